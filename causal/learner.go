package causal

import (
	"errors"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// ErrInput reports invalid input data: mismatched lengths, NaN or infinite
// values, an empty arm. Check with errors.Is.
var ErrInput = errors.New("invalid input")

// ErrInsufficientData reports valid data too few or too degenerate to fit
// a model on, such as rows whose normal equations are singular. More data
// may fit. Check with errors.Is.
var ErrInsufficientData = errors.New("too little data to fit")

// Task says what a base learner predicts.
type Task int

const (
	// Regression predicts E[y|x] under squared loss.
	Regression Task = iota
	// Classification predicts P(y=1|x) for y in {0,1} under log loss.
	Classification
)

// Model predicts one value per row of x: a conditional mean for
// regression, a probability for classification.
type Model interface {
	// Predict writes the predictions for the rows of x into dst, which it
	// allocates when nil or too short, and returns it.
	Predict(dst []float64, x *mat.Dense) []float64
}

// Learner fits a Model. Implementations are configuration structs whose
// zero value is usable with sensible defaults.
type Learner interface {
	// Fit fits y on x with optional weights (nil means 1 each). src
	// drives every random choice; the same src state gives the same model.
	Fit(x *mat.Dense, y, weights []float64, task Task, src rand.Source) (Model, error)
}

// UpliftData is the training input of an uplift estimator.
type UpliftData struct {
	// X holds one row of features per unit.
	X *mat.Dense
	// Treatment holds the arm of each unit: 0 for control, 1..Arms.
	Treatment []int
	// Arms is the number of treated arms K (at least 1).
	Arms int
	// Y is the observed outcome.
	Y []float64
	// Weights are optional sample weights (nil means 1 each).
	Weights []float64
	// Propensity is optional: the logged probability that each unit got
	// the arm it got. Nil means estimate it (or use the empirical arm
	// shares in a randomised trial).
	Propensity []float64
	// Categorical marks which columns of X hold category codes
	// (0, 1, 2, ...) rather than numbers. Nil means all numeric.
	Categorical []bool
}

// UpliftModel predicts the effect of each treated arm against control.
type UpliftModel interface {
	// Effects writes the n×K matrix of effects for the rows of x into dst,
	// which it allocates when nil, and returns it.
	Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense
}

// IntervalModel is implemented by uplift models that give confidence
// intervals for their effects.
type IntervalModel interface {
	UpliftModel
	// Intervals writes lower and upper bounds of the level (e.g. 0.95)
	// confidence interval of each effect into lo and hi (n×K).
	Intervals(lo, hi *mat.Dense, x *mat.Dense, level float64) (*mat.Dense, *mat.Dense)
}

// UpliftEstimator fits an UpliftModel.
type UpliftEstimator interface {
	FitUplift(d UpliftData, src rand.Source) (UpliftModel, error)
}
