package causal

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// NetOptions are the architecture and training settings shared by the
// neural estimators (TARNet, DragonNet) and the MLP learner. The zero
// value of each field means its default.
type NetOptions struct {
	// Hidden is the width of the shared layers (0 means 64) and Layers
	// their number (0 means 2).
	Hidden, Layers int
	// HeadHidden is the width of each head's hidden layers (0 means 32)
	// and HeadLayers their number (0 means 1; negative means none, a
	// linear head).
	HeadHidden, HeadLayers int
	// Epochs bounds the passes over the training rows (0 means
	// DefaultEpochs for the number of rows).
	Epochs int
	// Batch is the minibatch size (0 means DefaultNetBatch for the number
	// of rows for TARNet and DragonNet, 64 for the MLP).
	Batch int
	// LearnRate is Adam's step size (0 means DefaultNetLearnRate for the
	// number of rows for TARNet and DragonNet, 0.001 for the MLP).
	LearnRate float64
	// L2 is the weight penalty λ (0 means DefaultNetL2 for the number of
	// training rows; negative means none).
	L2 float64
	// Patience is the number of epochs without improvement of the
	// validation loss before training stops (0 means 30).
	Patience int
	// ValFraction is the share of rows held out for early stopping (0
	// means 0.2; negative means none: all epochs run on all rows).
	ValFraction float64
	// Nets is the number of networks averaged, each from its own
	// initialisation and validation split (0 means DefaultNets for the
	// number of rows for TARNet and DragonNet, 1 for the MLP).
	Nets int
}

// DefaultNets is the default number of networks TARNet and DragonNet
// average on n training rows: 5 on up to 6,666 rows, where DefaultEpochs
// bounds each to about 200,000 row visits, so that a fit makes at most
// about 1,000,000; 1 on more, so that the fit time on large data does not
// grow. Averaging networks from different initialisations and validation
// splits cuts the variance of the effects, which dominates on small data.
func DefaultNets(n int) int {
	if n < smallNet {
		return 5
	}
	return 1
}

// DefaultNetLearnRate is TARNet's and DragonNet's default Adam step size
// on n training rows: 0.003 on up to 6,666 rows, 0.001 on more. See
// DefaultNetBatch.
func DefaultNetLearnRate(n int) float64 {
	if n < smallNet {
		return 0.003
	}
	return 0.001
}

// DefaultNetBatch is TARNet's and DragonNet's default minibatch size on n
// training rows: 32 on up to 6,666 rows, 64 on more. Below that size
// DefaultEpochs bounds a fit to about 200,000 row visits, and smaller,
// larger steps (DefaultNetLearnRate) let the networks fit within them; on
// IHDP (672 rows) they lowered the out-of-sample error (docs/estimators.md).
// On more rows every epoch has many steps and the defaults are those of
// Adam.
func DefaultNetBatch(n int) int {
	if n < smallNet {
		return 32
	}
	return 64
}

// smallNet is the number of rows from which DefaultEpochs no longer
// holds the row visits at 200,000.
const smallNet = 6_667

// nets returns the number of networks to fit on n rows.
func (o NetOptions) nets(n int) int {
	if o.Nets == 0 {
		return DefaultNets(n)
	}
	return o.Nets
}

// DefaultEpochs is the default bound on the epochs for n training rows:
// 300, or fewer on large data so that about 200,000 row visits are made,
// but at least 30 epochs.
func DefaultEpochs(n int) int {
	return max(30, min(300, 200000/max(n, 1)))
}

// DefaultNetL2 is the default weight penalty λ for n training rows: 0.01 on
// up to 1,000 rows and 10/n on more. The penalty is added to the mean loss
// over the rows, so a fixed λ would count more against the data the more
// rows there are; holding λ·n at 10 keeps its weight against the summed
// loss. On large logs with rare binary outcomes, whose effects are small
// differences between the heads, a fixed 0.01 shrank the effects to noise.
func DefaultNetL2(n int) float64 {
	if n <= 1000 {
		return 0.01
	}
	return 10 / float64(n)
}

// withDefaults fills the zero fields (except Epochs, which depends on the
// data) and checks the values.
func (o NetOptions) withDefaults() (NetOptions, error) {
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&o.Hidden, 64)
	defInt(&o.Layers, 2)
	defInt(&o.HeadHidden, 32)
	defInt(&o.HeadLayers, 1)
	defInt(&o.Patience, 30)
	if o.ValFraction == 0 {
		o.ValFraction = 0.2
	}
	switch {
	case o.Hidden < 1 || o.Layers < 1 || o.HeadHidden < 1:
		return o, fmt.Errorf("%w: hidden=%d layers=%d head_hidden=%d, want positive sizes", ErrParam, o.Hidden, o.Layers, o.HeadHidden)
	case o.Epochs < 0 || o.Batch < 0 || o.Patience < 1 || o.Nets < 0:
		return o, fmt.Errorf("%w: epochs=%d batch=%d patience=%d nets=%d, want positive counts", ErrParam, o.Epochs, o.Batch, o.Patience, o.Nets)
	case math.IsNaN(o.L2) || math.IsInf(o.L2, 0):
		return o, fmt.Errorf("%w: l2=%v, want a number", ErrParam, o.L2)
	case o.LearnRate < 0 || math.IsNaN(o.LearnRate) || math.IsInf(o.LearnRate, 0):
		return o, fmt.Errorf("%w: learn_rate=%v, want a positive number", ErrParam, o.LearnRate)
	case o.ValFraction >= 0.9:
		return o, fmt.Errorf("%w: val_fraction=%v, want less than 0.9", ErrParam, o.ValFraction)
	}
	if o.HeadLayers < 0 {
		o.HeadLayers = 0
	}
	if o.ValFraction < 0 {
		o.ValFraction = 0
	}
	return o, nil
}

func (o NetOptions) shape(in, heads, classes int) netShape {
	s := netShape{in: in, heads: heads, classes: classes}
	for i := 0; i < o.Layers; i++ {
		s.trunk = append(s.trunk, o.Hidden)
	}
	for i := 0; i < o.HeadLayers; i++ {
		s.head = append(s.head, o.HeadHidden)
	}
	return s
}

func (o NetOptions) config(n int, alpha float64, classification bool) netConfig {
	epochs := o.Epochs
	if epochs == 0 {
		epochs = DefaultEpochs(n)
	}
	l2 := o.L2 // 0: the default; negative: none
	switch {
	case l2 == 0:
		l2 = DefaultNetL2(n)
	case l2 < 0:
		l2 = 0
	}
	return netConfig{
		epochs: epochs, batch: o.Batch, patience: o.Patience, learnRate: o.LearnRate, l2: l2,
		alpha: alpha, valFraction: o.ValFraction, classification: classification,
	}
}

// TARNet is the treatment-agnostic representation network of Shalit,
// Johansson and Sontag (2017), "Estimating individual treatment effect:
// generalization bounds and algorithms": a shared representation Φ(x)
// feeds one outcome head h_k per arm (control included), trained on the
// factual outcomes only,
//
//	min Σ_i w_i (y_i − h_{t_i}(Φ(x_i)))² / Σ_i w_i + (λ/2) Σ ‖W‖²,
//
// and the effect of arm k is τ_k(x) = h_k(Φ(x)) − h_0(Φ(x)). Features are
// standardised (categorical columns one-hot encoded first) and so is the
// outcome for regression; for binary outcomes the heads give logits under
// log loss and τ_k is a difference of probabilities.
//
// With Alpha > 0 it is DragonNet (Shi, Blei and Veitch 2019): a
// propensity head π(x) = softmax(Φ(x)·W_π + b_π) over the arms is trained
// jointly, adding α Σ_i w_i (−log π_{t_i}(x_i)) / Σ_i w_i to the loss, so
// the representation keeps what predicts treatment.
//
// Training is minibatch Adam with early stopping on a held-out share of
// each arm (see NetOptions); Nets networks can be averaged. The fit is
// deterministic for a given source.
type TARNet struct {
	NetOptions
	// Alpha weighs the propensity loss (0: TARNet; positive: DragonNet).
	Alpha float64
	// Outcome chooses squared or log loss (see OutcomeTask).
	Outcome OutcomeTask
}

// TARNetModel is a fitted TARNet, saved under kind "tarnet".
type TARNetModel struct {
	// Arms is the number of treated arms.
	Arms int `json:"arms"`
	// Scaler standardises the features.
	Scaler netScaler `json:"scaler"`
	// YMean and YScale undo the outcome standardisation (regression).
	YMean  float64 `json:"y_mean"`
	YScale float64 `json:"y_scale"`
	// Classification is true when the heads give logits.
	Classification bool `json:"classification"`
	// Nets are the averaged networks.
	Nets []*Network `json:"nets"`
}

// Kind implements Kinded.
func (m *TARNetModel) Kind() string { return "tarnet" }

// Validate checks the shapes of a decoded model.
func (m *TARNetModel) Validate() error {
	if m.Arms < 1 || len(m.Nets) == 0 {
		return fmt.Errorf("tarnet model with %d arms and %d networks", m.Arms, len(m.Nets))
	}
	return validateNets(m.Scaler, m.Nets, m.Arms+1)
}

// FitUplift implements UpliftEstimator.
func (t TARNet) FitUplift(d UpliftData, src rand.Source) (UpliftModel, error) {
	return t.Fit(d, src)
}

// Fit fits the networks on d.
func (t TARNet) Fit(d UpliftData, src rand.Source) (*TARNetModel, error) {
	if err := metaCheck(d); err != nil {
		return nil, fmt.Errorf("tarnet: %w", err)
	}
	o, err := t.NetOptions.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("tarnet: %w", err)
	}
	if o.LearnRate == 0 {
		o.LearnRate = DefaultNetLearnRate(len(d.Y))
	}
	if o.Batch == 0 {
		o.Batch = DefaultNetBatch(len(d.Y))
	}
	if t.Alpha < 0 || math.IsNaN(t.Alpha) || math.IsInf(t.Alpha, 0) {
		return nil, fmt.Errorf("tarnet: %w: alpha=%v, want a non-negative number", ErrParam, t.Alpha)
	}
	task, err := t.Outcome.resolve(d.Y)
	if err != nil {
		return nil, fmt.Errorf("tarnet: %w", err)
	}
	if src == nil {
		src = rand.NewPCG(0, 0)
	}
	rng := rand.New(src)
	m := &TARNetModel{Arms: d.Arms, Classification: task == Classification, YScale: 1}
	if m.Scaler, err = fitScaler(d.X, d.Weights, d.Categorical); err != nil {
		return nil, fmt.Errorf("tarnet: %w", err)
	}
	x := m.Scaler.transform(d.X)
	in := m.Scaler.inputs()
	y := d.Y
	if task == Regression {
		y, m.YMean, m.YScale = netTarget(d.Y, d.Weights)
	} else {
		for i, v := range d.Y {
			if v < 0 || v > 1 {
				return nil, fmt.Errorf("tarnet: %w: outcome %v of row %d is not in [0, 1]", ErrInput, v, i)
			}
		}
	}
	classes := 0
	if t.Alpha > 0 {
		classes = d.Arms + 1
	}
	epochs := o.config(len(d.Y), t.Alpha, m.Classification).epochs
	nets := o.nets(len(d.Y))
	prog := startProgress(src, nets*epochs)
	for k := range nets {
		net := newNetwork(o.shape(in, d.Arms+1, classes), rng)
		cfg := o.config(len(d.Y), t.Alpha, m.Classification)
		cfg.stop = func() error { return stopped(src) }
		cfg.epochDone = prog.step
		if err := trainNetwork(net, x, in, y, d.Weights, d.Treatment, cfg, rng); err != nil {
			return nil, fmt.Errorf("tarnet: %w", err)
		}
		prog.to((k + 1) * epochs) // the epochs early stopping left out
		if net.Propensity != nil {
			net.Propensity = nil // not needed to predict effects
		}
		m.Nets = append(m.Nets, net)
	}
	return m, nil
}

// netTarget returns the regression outcomes the networks are trained on,
// (y − mean)/sd, with the weighted mean and standard deviation of y that
// undo it (a zero deviation becomes 1).
func netTarget(y, w []float64) (z []float64, mean, sd float64) {
	var sw float64
	for i, v := range y {
		ww := 1.0
		if w != nil {
			ww = w[i]
		}
		sw += ww
		mean += ww * v
	}
	mean /= sw
	for i, v := range y {
		ww := 1.0
		if w != nil {
			ww = w[i]
		}
		sd += ww * (v - mean) * (v - mean)
	}
	sd = math.Sqrt(sd / sw)
	if !(sd > 1e-12) {
		sd = 1
	}
	z = make([]float64, len(y))
	for i, v := range y {
		z[i] = (v - mean) / sd
	}
	return z, mean, sd
}

// validateNets checks the networks of a decoded model: each present,
// shaped for the scaler's inputs, with heads output heads.
func validateNets(s netScaler, nets []*Network, heads int) error {
	if err := s.validate(); err != nil {
		return err
	}
	for i, n := range nets {
		if n == nil {
			return fmt.Errorf("network %d missing", i)
		}
		if err := n.validate(s.inputs()); err != nil {
			return fmt.Errorf("network %d: %w", i, err)
		}
		if len(n.Heads) != heads {
			return fmt.Errorf("network %d has %d heads, want %d", i, len(n.Heads), heads)
		}
	}
	return nil
}

// Effects implements UpliftModel: τ_k(x) = (h_k − h_0)·YScale, or
// σ(h_k) − σ(h_0) for binary outcomes, averaged over the networks.
func (m *TARNetModel) Effects(dst *mat.Dense, x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	dst = metaEffectsDst(dst, n, m.Arms)
	if n == 0 {
		return dst
	}
	out := netOutputs(m.Nets, m.Scaler.transform(x), m.Scaler.inputs(), n, m.Classification)
	for i := 0; i < n; i++ {
		for k := 1; k <= m.Arms; k++ {
			dst.Set(i, k-1, (out[k][i]-out[0][i])*m.YScale)
		}
	}
	return dst
}

// Outcomes returns the predicted outcome of every arm (column k is arm k,
// control first) for the rows of x.
func (m *TARNetModel) Outcomes(x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	if n == 0 {
		return &mat.Dense{}
	}
	out := netOutputs(m.Nets, m.Scaler.transform(x), m.Scaler.inputs(), n, m.Classification)
	dst := mat.NewDense(n, m.Arms+1, nil)
	for k := range out {
		for i, v := range out[k] {
			dst.Set(i, k, v*m.YScale+m.YMean)
		}
	}
	return dst
}

// MLP is a multilayer perceptron base learner: the trunk of NetOptions
// with one head (regression by squared loss on the standardised outcome,
// classification by log loss), trained like TARNet. It implements
// CategoricalLearner (categorical columns are one-hot encoded).
type MLP struct {
	NetOptions
	// Categorical marks category code columns (nil means none).
	Categorical []bool
}

// WithCategorical returns a copy of m that one-hot encodes the marked
// columns. It implements CategoricalLearner.
func (m MLP) WithCategorical(categorical []bool) Learner {
	m.Categorical = categorical
	return m
}

// MLPModel is a fitted MLP, saved under kind "mlp".
type MLPModel struct {
	Scaler         netScaler  `json:"scaler"`
	YMean          float64    `json:"y_mean"`
	YScale         float64    `json:"y_scale"`
	Classification bool       `json:"classification"`
	Nets           []*Network `json:"nets"`
}

// Kind implements Kinded.
func (m *MLPModel) Kind() string { return "mlp" }

// Validate checks the shapes of a decoded model.
func (m *MLPModel) Validate() error {
	if len(m.Nets) == 0 {
		return fmt.Errorf("mlp model without networks")
	}
	return validateNets(m.Scaler, m.Nets, 1)
}

// Fit implements Learner.
func (m MLP) Fit(x *mat.Dense, y, weights []float64, task Task, src rand.Source) (Model, error) {
	o, err := m.NetOptions.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("mlp: %w", err)
	}
	if o.LearnRate == 0 {
		o.LearnRate = 0.001
	}
	if o.Batch == 0 {
		o.Batch = 64
	}
	n, p := x.Dims()
	if len(y) != n || (weights != nil && len(weights) != n) || n == 0 {
		return nil, fmt.Errorf("mlp: %w: %d rows, %d outcomes, %d weights", ErrInput, n, len(y), len(weights))
	}
	if m.Categorical != nil && len(m.Categorical) != p {
		return nil, fmt.Errorf("mlp: %w: %d categorical flags for %d columns", ErrInput, len(m.Categorical), p)
	}
	if src == nil {
		src = rand.NewPCG(0, 0)
	}
	rng := rand.New(src)
	out := &MLPModel{Classification: task == Classification, YScale: 1}
	if out.Scaler, err = fitScaler(x, weights, m.Categorical); err != nil {
		return nil, fmt.Errorf("mlp: %w", err)
	}
	z := out.Scaler.transform(x)
	in := out.Scaler.inputs()
	yy := y
	if task == Regression {
		yy, out.YMean, out.YScale = netTarget(y, weights)
	}
	g := make([]int, n)
	epochs := o.config(n, 0, out.Classification).epochs
	nets := max(o.Nets, 1)
	prog := startProgress(src, nets*epochs)
	for k := range nets {
		net := newNetwork(o.shape(in, 1, 0), rng)
		cfg := o.config(n, 0, out.Classification)
		cfg.stop = func() error { return stopped(src) }
		cfg.epochDone = prog.step
		if err := trainNetwork(net, z, in, yy, weights, g, cfg, rng); err != nil {
			return nil, fmt.Errorf("mlp: %w", err)
		}
		prog.to((k + 1) * epochs) // the epochs early stopping left out
		out.Nets = append(out.Nets, net)
	}
	return out, nil
}

// Predict implements Model.
func (m *MLPModel) Predict(dst []float64, x *mat.Dense) []float64 {
	n, _ := x.Dims()
	if len(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	if n == 0 {
		return dst
	}
	out := netOutputs(m.Nets, m.Scaler.transform(x), m.Scaler.inputs(), n, m.Classification)
	for i, v := range out[0] {
		dst[i] = v*m.YScale + m.YMean
	}
	return dst
}

// newNetOptions reads hidden, layers, head_hidden, head_layers, epochs,
// batch, learn_rate, l2, patience, val_fraction and nets.
func newNetOptions(p *Params, head bool) (NetOptions, error) {
	var o NetOptions
	var err error
	ints := []struct {
		name string
		dst  *int
	}{
		{"hidden", &o.Hidden}, {"layers", &o.Layers}, {"epochs", &o.Epochs}, {"batch", &o.Batch},
		{"patience", &o.Patience}, {"nets", &o.Nets},
	}
	if head {
		ints = append(ints, struct {
			name string
			dst  *int
		}{"head_hidden", &o.HeadHidden}, struct {
			name string
			dst  *int
		}{"head_layers", &o.HeadLayers})
	}
	for _, f := range ints {
		if *f.dst, err = p.Int(f.name, 0); err != nil {
			return o, err
		}
		if *f.dst < 0 || (p.Has(f.name) && *f.dst == 0 && f.name != "head_layers") {
			return o, fmt.Errorf("%w: %s=%d, want a positive integer", ErrParam, f.name, *f.dst)
		}
	}
	if head && p.Has("head_layers") && o.HeadLayers == 0 {
		o.HeadLayers = -1 // explicitly none
	}
	if !head {
		o.HeadLayers = -1 // the MLP's output is the one linear head
	}
	if o.LearnRate, err = p.Float("learn_rate", 0); err != nil {
		return o, err
	}
	if p.Has("learn_rate") && !(o.LearnRate > 0) {
		return o, fmt.Errorf("%w: learn_rate=%v, want a positive number", ErrParam, o.LearnRate)
	}
	if o.L2, err = p.Float("l2", 0); err != nil {
		return o, err
	}
	if o.L2 < 0 {
		return o, fmt.Errorf("%w: l2=%v is negative", ErrParam, o.L2)
	}
	if p.Has("l2") && o.L2 == 0 {
		o.L2 = -1 // explicitly none
	}
	if o.ValFraction, err = p.Float("val_fraction", 0); err != nil {
		return o, err
	}
	if o.ValFraction < 0 || o.ValFraction >= 0.9 {
		return o, fmt.Errorf("%w: val_fraction=%v, want 0 ≤ val_fraction < 0.9", ErrParam, o.ValFraction)
	}
	if p.Has("val_fraction") && o.ValFraction == 0 {
		o.ValFraction = -1 // explicitly none
	}
	_, err = o.withDefaults()
	return o, err
}

// newTARNetEstimator builds the "tarnet" registry entry.
func newTARNetEstimator(p *Params, _ Registry) (UpliftEstimator, error) {
	return regTARNet(p, 0)
}

// newDragonNetEstimator builds the "dragonnet" registry entry: TARNet
// with a propensity head weighted by alpha (default 1).
func newDragonNetEstimator(p *Params, _ Registry) (UpliftEstimator, error) {
	return regTARNet(p, 1)
}

func regTARNet(p *Params, defAlpha float64) (UpliftEstimator, error) {
	o, err := newNetOptions(p, true)
	if err != nil {
		return nil, err
	}
	t := TARNet{NetOptions: o, Alpha: defAlpha}
	if defAlpha > 0 {
		if t.Alpha, err = p.Float("alpha", defAlpha); err != nil {
			return nil, err
		}
		if !(t.Alpha > 0) {
			return nil, fmt.Errorf("%w: alpha=%v, want a positive number", ErrParam, t.Alpha)
		}
	}
	if t.Outcome, err = regOutcome(p); err != nil {
		return nil, err
	}
	return t, nil
}

// newMLPLearner builds the "mlp" learner.
func newMLPLearner(p *Params) (Learner, error) {
	o, err := newNetOptions(p, false)
	if err != nil {
		return nil, err
	}
	return MLP{NetOptions: o}, nil
}
