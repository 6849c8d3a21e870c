package api

import (
	"encoding/json"
	"fmt"
	"math"
)

// ExplainReport is the JSON an Explainer returns (the report of `causalrec
// uplift explain`, docs/explain.md), read back for the answers that are
// not JSON (gRPC). Numbers JSON writes as null are NaN; fields it does not
// know are ignored.
type ExplainReport struct {
	BLP []ExplainCoef `json:"blp"`
	// BLPIntercept is nil without treatment and outcome.
	BLPIntercept *ExplainCoef        `json:"blp_intercept"`
	Importance   []ExplainImportance `json:"importance"`
	Tree         *ExplainNode        `json:"tree"`
	Terms        []ExplainTerm       `json:"terms"`
	N            int                 `json:"n"`
	Arm          string              `json:"arm"`
	Level        float64             `json:"level"`
	Notes        []string            `json:"notes"`
}

// ExplainCoef is a term of the best linear projection of the effect.
type ExplainCoef struct {
	Feature string     `json:"feature"`
	Coef    float64    `json:"coef"`
	CI      [2]float64 `json:"ci"`
	PValue  float64    `json:"p_value"`
	SE      float64    `json:"se"`
}

// ExplainImportance is a feature's permutation importance.
type ExplainImportance struct {
	Feature string     `json:"feature"`
	Value   float64    `json:"value"`
	CI      [2]float64 `json:"ci"`
}

// ExplainNode is a node of the tree of the predicted effects. A leaf has
// neither Left nor Right; an inner node splits on Feature, rows with
// Feature ≤ *Threshold (numeric) or of level *Level (categorical) going
// left.
type ExplainNode struct {
	Feature   string       `json:"feature"`
	Threshold *float64     `json:"threshold"`
	Level     *string      `json:"level"`
	Left      *ExplainNode `json:"left"`
	Right     *ExplainNode `json:"right"`
	N         int          `json:"n"`
	Effect    float64      `json:"effect"`
	CI        [2]float64   `json:"ci"`
	Tau       float64      `json:"tau"`
}

// ExplainTerm is a term of the item texts with its effect.
type ExplainTerm struct {
	Term   string     `json:"term"`
	Effect float64    `json:"effect"`
	CI     [2]float64 `json:"ci"`
	N      int        `json:"n"`
}

// DecodeExplainReport reads an explanation's JSON.
func DecodeExplainReport(b []byte) (ExplainReport, error) {
	var r ExplainReport
	if err := json.Unmarshal(b, &r); err != nil {
		return ExplainReport{}, fmt.Errorf("decode explanation: %w", err)
	}
	return r, nil
}

// JSON leaves a number it reads as null untouched: the decoders below
// start from NaN, so that a null is NaN.

var nan2 = [2]float64{math.NaN(), math.NaN()}

func (c *ExplainCoef) UnmarshalJSON(b []byte) error {
	type plain ExplainCoef
	p := plain{Coef: math.NaN(), CI: nan2, PValue: math.NaN(), SE: math.NaN()}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = ExplainCoef(p)
	return nil
}

func (f *ExplainImportance) UnmarshalJSON(b []byte) error {
	type plain ExplainImportance
	p := plain{Value: math.NaN(), CI: nan2}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = ExplainImportance(p)
	return nil
}

func (n *ExplainNode) UnmarshalJSON(b []byte) error {
	type plain ExplainNode
	p := plain{Effect: math.NaN(), CI: nan2, Tau: math.NaN()}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*n = ExplainNode(p)
	return nil
}

func (t *ExplainTerm) UnmarshalJSON(b []byte) error {
	type plain ExplainTerm
	p := plain{Effect: math.NaN(), CI: nan2}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = ExplainTerm(p)
	return nil
}
