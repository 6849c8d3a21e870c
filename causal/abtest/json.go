package abtest

import (
	"encoding/json"
	"math"
)

// comparisonJSON is Comparison without its methods, for the encoders.
type comparisonJSON Comparison

// MarshalJSON encodes c with an undefined (NaN) relative lift and
// interval as null, which encoding/json cannot do for a float64.
func (c Comparison) MarshalJSON() ([]byte, error) {
	aux := struct {
		comparisonJSON
		RelativeLift *float64    `json:"relative_lift"`
		RelativeCI   *[2]float64 `json:"relative_ci"`
	}{comparisonJSON: comparisonJSON(c)}
	if !math.IsNaN(c.RelativeLift) {
		aux.RelativeLift = &c.RelativeLift
	}
	if !math.IsNaN(c.RelativeCI[0]) && !math.IsNaN(c.RelativeCI[1]) {
		aux.RelativeCI = &c.RelativeCI
	}
	return json.Marshal(aux)
}

// UnmarshalJSON decodes what MarshalJSON encodes: a null relative lift or
// interval becomes NaN.
func (c *Comparison) UnmarshalJSON(b []byte) error {
	var aux struct {
		comparisonJSON
		RelativeLift *float64    `json:"relative_lift"`
		RelativeCI   *[2]float64 `json:"relative_ci"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*c = Comparison(aux.comparisonJSON)
	c.RelativeLift, c.RelativeCI = math.NaN(), [2]float64{math.NaN(), math.NaN()}
	if aux.RelativeLift != nil {
		c.RelativeLift = *aux.RelativeLift
	}
	if aux.RelativeCI != nil {
		c.RelativeCI = *aux.RelativeCI
	}
	return nil
}
