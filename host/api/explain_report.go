package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Num is a number of an explanation's JSON: NaN and ±Inf are written as
// null, and null is read as NaN (an interval without data, a p-value that
// could not be computed).
type Num float64

// MarshalJSON writes NaN and ±Inf as null.
func (v Num) MarshalJSON() ([]byte, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON reads null as NaN.
func (v *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("number %s: %w", b, err)
	}
	*v = Num(f)
	return nil
}

// Nums returns c as a pair of Num.
func Nums(c [2]float64) [2]Num { return [2]Num{Num(c[0]), Num(c[1])} }

// ExplainReport is the JSON of an explanation: what `causalrec uplift
// explain` prints and GET /v1/models/{id}/explain answers (docs/explain.md),
// written by the command and read back here for the answers that are not
// JSON (gRPC). Fields it does not know are ignored.
type ExplainReport struct {
	BLP []ExplainCoef `json:"blp"`
	// BLPIntercept is nil without treatment and outcome.
	BLPIntercept *ExplainCoef        `json:"blp_intercept,omitempty"`
	Importance   []ExplainImportance `json:"importance"`
	Tree         *ExplainNode        `json:"tree"`
	Terms        []ExplainTerm       `json:"terms"`
	// N is the number of rows explained, Arm the treated arm whose effect
	// is explained, Level the confidence level of every interval.
	N     int     `json:"n"`
	Arm   string  `json:"arm,omitempty"`
	Level float64 `json:"level"`
	// Notes say what was left out and why.
	Notes []string `json:"notes,omitempty"`
}

// ExplainCoef is a term of the best linear projection of the effect.
type ExplainCoef struct {
	Feature string `json:"feature"`
	Coef    Num    `json:"coef"`
	CI      [2]Num `json:"ci"`
	PValue  Num    `json:"p_value"`
	SE      Num    `json:"se"`
}

// ExplainImportance is a feature's permutation importance.
type ExplainImportance struct {
	Feature string `json:"feature"`
	Value   Num    `json:"value"`
	CI      [2]Num `json:"ci"`
}

// ExplainNode is a node of the tree of the predicted effects. A leaf has
// neither Left nor Right; an inner node splits on Feature, rows with
// Feature ≤ *Threshold (numeric) or of level *Level (categorical) going
// left. Every node gives its rows' count, mean predicted effect (Tau) and
// effect (the mean doubly robust score) with its interval.
type ExplainNode struct {
	Feature   string       `json:"feature,omitempty"`
	Threshold *Num         `json:"threshold,omitempty"`
	Level     *string      `json:"level,omitempty"`
	Left      *ExplainNode `json:"left,omitempty"`
	Right     *ExplainNode `json:"right,omitempty"`
	N         int          `json:"n"`
	Effect    Num          `json:"effect"`
	CI        [2]Num       `json:"ci"`
	Tau       Num          `json:"tau"`
}

// ExplainTerm is a term of the item texts with its effect.
type ExplainTerm struct {
	Term   string `json:"term"`
	Effect Num    `json:"effect"`
	CI     [2]Num `json:"ci"`
	N      int    `json:"n"`
}

// DecodeExplainReport reads an explanation's JSON.
func DecodeExplainReport(b []byte) (ExplainReport, error) {
	var r ExplainReport
	if err := json.Unmarshal(b, &r); err != nil {
		return ExplainReport{}, fmt.Errorf("decode explanation: %w", err)
	}
	return r, nil
}

// An absent number reads as NaN, as a null does: the decoders below start
// from NaN.

var nan = Num(math.NaN())

func (c *ExplainCoef) UnmarshalJSON(b []byte) error {
	type plain ExplainCoef
	p := plain{Coef: nan, CI: [2]Num{nan, nan}, PValue: nan, SE: nan}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = ExplainCoef(p)
	return nil
}

func (f *ExplainImportance) UnmarshalJSON(b []byte) error {
	type plain ExplainImportance
	p := plain{Value: nan, CI: [2]Num{nan, nan}}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = ExplainImportance(p)
	return nil
}

func (n *ExplainNode) UnmarshalJSON(b []byte) error {
	type plain ExplainNode
	p := plain{Effect: nan, CI: [2]Num{nan, nan}, Tau: nan}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*n = ExplainNode(p)
	return nil
}

func (t *ExplainTerm) UnmarshalJSON(b []byte) error {
	type plain ExplainTerm
	p := plain{Effect: nan, CI: [2]Num{nan, nan}}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = ExplainTerm(p)
	return nil
}
