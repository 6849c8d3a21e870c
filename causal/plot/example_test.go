package plot_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/causal/plot"
)

// The Qini chart of one ranking, with its Qini coefficient and interval in
// the legend and the random and perfect references.
func ExampleWriteQini() {
	score := []float64{0.9, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.0}
	treated := []int{1, 0, 1, 0, 1, 0, 1, 0}
	y := []float64{1, 0, 1, 0, 0, 0, 0, 1}
	curve, _ := causal.QiniCurve(score, treated, y, nil)
	curve.Name = "t-learner"
	qini, _ := causal.QiniAUCScore(score, treated, y, nil)
	perfect, _ := causal.PerfectQiniCurve(treated, y, nil)
	perfect.Name = "Perfect ranking"
	var svg bytes.Buffer
	err := plot.WriteQini(&svg, plot.SVG, plot.CurveChart{
		Metric:  "Qini",
		Series:  []plot.Series{{Curve: curve, Value: qini, CI: causal.ConfInt{Lo: 0.1, Hi: 0.9}}},
		Perfect: &plot.Series{Curve: perfect, Value: 1, CI: causal.ConfInt{Lo: math.NaN(), Hi: math.NaN()}},
	})
	fmt.Println(err, strings.Contains(svg.String(), "t-learner"), strings.Contains(svg.String(), "Qini 1"))
	// Output: <nil> true true
}
