package causal

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// DenseLayer is one fully connected layer of a network: for an input row
// a of length In it computes z = a·W + B, with W stored row-major In×Out.
// Hidden layers apply the ELU activation to z; output layers do not.
type DenseLayer struct {
	In  int       `json:"in"`
	Out int       `json:"out"`
	W   []float64 `json:"w"`
	B   []float64 `json:"b"`
}

// validate checks that the layer's sizes agree and that it reads in
// columns.
func (l *DenseLayer) validate(in int) error {
	if l.In != in || l.Out < 1 || len(l.W) != l.In*l.Out || len(l.B) != l.Out {
		return fmt.Errorf("layer %d×%d with %d weights and %d biases does not follow a layer of width %d", l.In, l.Out, len(l.W), len(l.B), in)
	}
	return nil
}

// forward writes z = a·W + B (rows×Out) into z and applies ELU when act.
func (l *DenseLayer) forward(z, a []float64, rows int, act bool) {
	if rows == 0 {
		return
	}
	for r := 0; r < rows; r++ {
		copy(z[r*l.Out:(r+1)*l.Out], l.B)
	}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas64.General{Rows: rows, Cols: l.In, Stride: l.In, Data: a},
		blas64.General{Rows: l.In, Cols: l.Out, Stride: l.Out, Data: l.W},
		1, blas64.General{Rows: rows, Cols: l.Out, Stride: l.Out, Data: z})
	if act {
		for i, v := range z[:rows*l.Out] {
			if v < 0 {
				z[i] = math.Exp(v) - 1
			}
		}
	}
}

// backward takes dz, the gradient of the loss with respect to the layer's
// output (after the activation h when act), turns it into the gradient
// with respect to z in place (ELU'(z) = 1 for z > 0, h + 1 otherwise),
// adds the weight and bias gradients to gw and gb, and writes the
// gradient with respect to the input a into da unless da is nil.
func (l *DenseLayer) backward(da, dz, h, a, gw, gb []float64, rows int, act bool) {
	if rows == 0 {
		return
	}
	n := rows * l.Out
	if act {
		for i, v := range h[:n] {
			if v < 0 {
				dz[i] *= v + 1
			}
		}
	}
	for r := 0; r < rows; r++ {
		row := dz[r*l.Out : (r+1)*l.Out]
		for j, v := range row {
			gb[j] += v
		}
	}
	dzm := blas64.General{Rows: rows, Cols: l.Out, Stride: l.Out, Data: dz}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1,
		blas64.General{Rows: rows, Cols: l.In, Stride: l.In, Data: a}, dzm,
		1, blas64.General{Rows: l.In, Cols: l.Out, Stride: l.Out, Data: gw})
	if da != nil {
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, dzm,
			blas64.General{Rows: l.In, Cols: l.Out, Stride: l.Out, Data: l.W},
			0, blas64.General{Rows: rows, Cols: l.In, Stride: l.In, Data: da})
	}
}

// Network is a shared representation with one outcome head per group and
// an optional propensity head, the architecture of TARNet (Shalit,
// Johansson and Sontag 2017) and DragonNet (Shi, Blei and Veitch 2019):
//
//	Φ(x) = ELU(…ELU(x·W_1 + b_1)…),  h_k(x) = head_k(Φ(x)),
//	π(x) = softmax(Φ(x)·W_π + b_π),
//
// where each head is a stack of ELU layers ending in one linear output.
// An MLP is a Network with one head and no propensity head.
type Network struct {
	// Trunk holds the shared layers (ELU).
	Trunk []DenseLayer `json:"trunk"`
	// Heads holds one stack per group; the last layer of each has one
	// linear output.
	Heads [][]DenseLayer `json:"heads"`
	// Propensity is the linear propensity layer (nil when absent).
	Propensity *DenseLayer `json:"propensity,omitempty"`
}

// validate checks the shapes of a decoded network with in inputs.
func (n *Network) validate(in int) error {
	if len(n.Trunk) == 0 || len(n.Heads) == 0 {
		return fmt.Errorf("network without trunk or heads")
	}
	w := in
	for i := range n.Trunk {
		if err := n.Trunk[i].validate(w); err != nil {
			return fmt.Errorf("trunk: %w", err)
		}
		w = n.Trunk[i].Out
	}
	for k, h := range n.Heads {
		hw := w
		for i := range h {
			if err := h[i].validate(hw); err != nil {
				return fmt.Errorf("head %d: %w", k, err)
			}
			hw = h[i].Out
		}
		if len(h) == 0 || hw != 1 {
			return fmt.Errorf("head %d does not end in one output", k)
		}
	}
	if n.Propensity != nil {
		if err := n.Propensity.validate(w); err != nil {
			return fmt.Errorf("propensity: %w", err)
		}
	}
	return nil
}

// layers returns every layer in a fixed order: trunk, heads, propensity.
func (n *Network) layers() []*DenseLayer {
	var out []*DenseLayer
	for i := range n.Trunk {
		out = append(out, &n.Trunk[i])
	}
	for k := range n.Heads {
		for i := range n.Heads[k] {
			out = append(out, &n.Heads[k][i])
		}
	}
	if n.Propensity != nil {
		out = append(out, n.Propensity)
	}
	return out
}

// clone returns a deep copy of n.
func (n *Network) clone() *Network {
	cp := func(l DenseLayer) DenseLayer {
		l.W = append([]float64(nil), l.W...)
		l.B = append([]float64(nil), l.B...)
		return l
	}
	out := &Network{Trunk: make([]DenseLayer, len(n.Trunk)), Heads: make([][]DenseLayer, len(n.Heads))}
	for i, l := range n.Trunk {
		out.Trunk[i] = cp(l)
	}
	for k, h := range n.Heads {
		out.Heads[k] = make([]DenseLayer, len(h))
		for i, l := range h {
			out.Heads[k][i] = cp(l)
		}
	}
	if n.Propensity != nil {
		p := cp(*n.Propensity)
		out.Propensity = &p
	}
	return out
}

// copyFrom copies the parameter values of src (same shapes) into n.
func (n *Network) copyFrom(src *Network) {
	dst, s := n.layers(), src.layers()
	for i := range dst {
		copy(dst[i].W, s[i].W)
		copy(dst[i].B, s[i].B)
	}
}

// newLayer returns an In×Out layer with weights drawn from
// N(0, 1/In) (LeCun initialisation) and zero biases.
func newLayer(in, out int, rng *rand.Rand) DenseLayer {
	l := DenseLayer{In: in, Out: out, W: make([]float64, in*out), B: make([]float64, out)}
	sd := 1 / math.Sqrt(float64(in))
	for i := range l.W {
		l.W[i] = sd * rng.NormFloat64()
	}
	return l
}

// netShape describes a network to build.
type netShape struct {
	in          int
	trunk, head []int // hidden widths
	heads       int
	classes     int // propensity classes; 0 means no propensity head
}

func newNetwork(s netShape, rng *rand.Rand) *Network {
	n := &Network{}
	w := s.in
	for _, h := range s.trunk {
		n.Trunk = append(n.Trunk, newLayer(w, h, rng))
		w = h
	}
	for k := 0; k < s.heads; k++ {
		var stack []DenseLayer
		hw := w
		for _, h := range s.head {
			stack = append(stack, newLayer(hw, h, rng))
			hw = h
		}
		stack = append(stack, newLayer(hw, 1, rng))
		n.Heads = append(n.Heads, stack)
	}
	if s.classes > 0 {
		p := newLayer(w, s.classes, rng)
		n.Propensity = &p
	}
	return n
}

// netWidth returns the widest layer of n (at least in).
func (n *Network) netWidth(in int) int {
	w := in
	for _, l := range n.layers() {
		w = max(w, l.Out)
	}
	return w
}

// predict writes the output of every head k for the rows of the
// standardised matrix x (rows×in, row-major) into out[k][:rows], using
// four scratch buffers of at least rows×netWidth each.
func (n *Network) predict(out [][]float64, x []float64, rows int, buf *[4][]float64) {
	a := x
	for i := range n.Trunk {
		l := &n.Trunk[i]
		z := buf[i%2][:rows*l.Out]
		l.forward(z, a, rows, true)
		a = z
	}
	phi := a
	for k, stack := range n.Heads {
		a := phi
		for i := range stack {
			l := &stack[i]
			z := buf[2+i%2][:rows*l.Out]
			l.forward(z, a, rows, i < len(stack)-1)
			a = z
		}
		copy(out[k][:rows], a[:rows])
	}
}

// newScratch returns predict's buffers for rows rows of net.
func (n *Network) newScratch(in, rows int) *[4][]float64 {
	w := n.netWidth(in) * rows
	return &[4][]float64{make([]float64, w), make([]float64, w), make([]float64, w), make([]float64, w)}
}

// netConfig holds the training settings of trainNetwork.
type netConfig struct {
	epochs, batch, patience int
	learnRate, l2, alpha    float64
	valFraction             float64
	classification          bool
	// stop, when set, is checked before each minibatch (see WithStop).
	stop func() error
	// epochDone, when set, is called after each epoch (see WithProgress).
	epochDone func()
}

// netParam is one parameter block with its gradient and Adam moments.
type netParam struct {
	w, g, m, v []float64
	decay      bool
}

// netTrainer holds a network, its training data and the buffers of one
// minibatch.
type netTrainer struct {
	net    *Network
	x      []float64 // n×in, standardised
	in     int
	y, w   []float64
	g      []int
	cfg    netConfig
	params []netParam // in the order of net.layers(), weights then biases
	grads  map[*DenseLayer][2][]float64

	xb, yb, wb   []float64
	gb, cnt, pos []int
	trunkH       [][]float64
	headH        [][][]float64
	dPhi, s1, s2 []float64
	probs        []float64
	batch, phiW  int
	heads        int
}

func newNetTrainer(net *Network, x []float64, in int, y, w []float64, g []int, cfg netConfig, batch int) *netTrainer {
	t := &netTrainer{net: net, x: x, in: in, y: y, w: w, g: g, cfg: cfg, batch: batch, heads: len(net.Heads)}
	layers := net.layers()
	t.grads = make(map[*DenseLayer][2][]float64, len(layers))
	for _, l := range layers {
		gw, gb := make([]float64, len(l.W)), make([]float64, len(l.B))
		t.grads[l] = [2][]float64{gw, gb}
		t.params = append(t.params,
			netParam{w: l.W, g: gw, m: make([]float64, len(l.W)), v: make([]float64, len(l.W)), decay: true},
			netParam{w: l.B, g: gb, m: make([]float64, len(l.B)), v: make([]float64, len(l.B))})
	}
	width := net.netWidth(in)
	t.xb = make([]float64, batch*in)
	t.yb, t.wb = make([]float64, batch), make([]float64, batch)
	t.gb, t.cnt, t.pos = make([]int, batch), make([]int, t.heads+1), make([]int, t.heads)
	t.trunkH = make([][]float64, len(net.Trunk))
	for i := range net.Trunk {
		t.trunkH[i] = make([]float64, batch*net.Trunk[i].Out)
	}
	t.headH = make([][][]float64, t.heads)
	for k, stack := range net.Heads {
		t.headH[k] = make([][]float64, len(stack))
		for i := range stack {
			t.headH[k][i] = make([]float64, batch*stack[i].Out)
		}
	}
	t.dPhi = make([]float64, batch*width)
	t.s1, t.s2 = make([]float64, batch*width), make([]float64, batch*width)
	if net.Propensity != nil {
		t.probs = make([]float64, batch*net.Propensity.Out)
	}
	t.phiW = net.Trunk[len(net.Trunk)-1].Out
	return t
}

// gradient sets the parameter gradients to those of the loss of
// trainNetwork without the L2 term on the rows (at most batch of them)
// and returns that loss; it returns NaN when the rows' weights sum to 0.
func (t *netTrainer) gradient(rows []int) float64 {
	net, in, cfg := t.net, t.in, t.cfg
	m := len(rows)
	// Counting sort of the rows by group: head k reads batch rows
	// [cnt[k], cnt[k+1]).
	cnt := t.cnt
	clear(cnt)
	for _, i := range rows {
		cnt[t.g[i]+1]++
	}
	for k := 1; k <= t.heads; k++ {
		cnt[k] += cnt[k-1]
	}
	copy(t.pos, cnt[:t.heads])
	sw := 0.0
	for _, i := range rows {
		r := t.pos[t.g[i]]
		t.pos[t.g[i]]++
		copy(t.xb[r*in:(r+1)*in], t.x[i*in:(i+1)*in])
		t.yb[r], t.gb[r] = t.y[i], t.g[i]
		t.wb[r] = 1
		if t.w != nil {
			t.wb[r] = t.w[i]
		}
		sw += t.wb[r]
	}
	if !(sw > 0) {
		return math.NaN()
	}
	for _, p := range t.params {
		clear(p.g)
	}
	// Forward through the trunk.
	a := t.xb
	for i := range net.Trunk {
		net.Trunk[i].forward(t.trunkH[i], a, m, true)
		a = t.trunkH[i]
	}
	phi, phiW := a, t.phiW
	dPhi := t.dPhi[:m*phiW]
	loss := 0.0
	// Heads: forward and backward on their own rows.
	for k, stack := range net.Heads {
		s, e := cnt[k], cnt[k+1]
		rk := e - s
		if rk == 0 {
			continue
		}
		ha := phi[s*phiW : e*phiW]
		for i := range stack {
			stack[i].forward(t.headH[k][i], ha, rk, i < len(stack)-1)
			ha = t.headH[k][i]
		}
		// Gradient of the outcome loss with respect to the output:
		// 2w(o − y)/Σw, or w(σ(o) − y)/Σw for the log loss.
		cur, other := t.s1[:rk], t.s2
		for r := 0; r < rk; r++ {
			o, yy, ww := ha[r], t.yb[s+r], t.wb[s+r]
			if cfg.classification {
				loss += ww * logLoss(yy, o)
				cur[r] = ww * (sigmoid(o) - yy) / sw
			} else {
				loss += ww * (o - yy) * (o - yy)
				cur[r] = 2 * ww * (o - yy) / sw
			}
		}
		for i := len(stack) - 1; i >= 0; i-- {
			l := &stack[i]
			lin, da := phi[s*phiW:e*phiW], dPhi[s*phiW:e*phiW]
			if i > 0 {
				lin, da = t.headH[k][i-1], other[:rk*l.In]
			}
			gr := t.grads[l]
			l.backward(da, cur, t.headH[k][i], lin, gr[0], gr[1], rk, i < len(stack)-1)
			cur, other = da, cur[:cap(cur)]
		}
	}
	loss /= sw
	// Propensity head: α times the softmax cross-entropy.
	if p := net.Propensity; p != nil && cfg.alpha > 0 {
		c := p.Out
		probs := t.probs[:m*c]
		p.forward(probs, phi, m, false)
		ce := 0.0
		for r := 0; r < m; r++ {
			row := probs[r*c : (r+1)*c]
			softmaxInPlace(row)
			ce -= t.wb[r] * math.Log(max(row[t.gb[r]], 1e-300))
			row[t.gb[r]]--
			for j := range row {
				row[j] *= cfg.alpha * t.wb[r] / sw
			}
		}
		loss += cfg.alpha * ce / sw
		gr := t.grads[p]
		tmp := t.s1[:m*phiW]
		p.backward(tmp, probs, nil, phi, gr[0], gr[1], m, false)
		for i := range dPhi {
			dPhi[i] += tmp[i]
		}
	}
	// Backward through the trunk.
	cur, other := dPhi, t.s1
	for i := len(net.Trunk) - 1; i >= 0; i-- {
		l := &net.Trunk[i]
		lin := t.xb
		var da []float64
		if i > 0 {
			lin, da = t.trunkH[i-1], other[:m*l.In]
		}
		gr := t.grads[l]
		l.backward(da, cur, t.trunkH[i], lin, gr[0], gr[1], m, true)
		cur, other = da, cur[:cap(cur)]
	}
	return loss
}

// trainNetwork fits net by Adam (Kingma and Ba 2015) on the weighted loss
//
//	L = Σ_i w_i ℓ(y_i, h_{g_i}(x_i)) / Σ_i w_i
//	    + α Σ_i w_i (−log π_{g_i}(x_i)) / Σ_i w_i + (λ/2) Σ ‖W‖²,
//
// where g_i is the group (head) of row i, ℓ is the squared error, or the
// log loss of the logit h for classification, the propensity term is
// present when net has a propensity head, and the L2 penalty λ applies to
// the weights, not the biases. x is row-major n×in and already
// standardised. A fraction valFraction of the rows of each group is held
// out; training stops when their outcome loss has not improved for
// patience epochs, and the parameters of the best epoch are kept. With no
// validation rows it runs every epoch.
func trainNetwork(net *Network, x []float64, in int, y, w []float64, g []int, cfg netConfig, rng *rand.Rand) error {
	heads := len(net.Heads)
	// Validation split, stratified by group.
	byGroup := make([][]int, heads)
	for i, k := range g {
		byGroup[k] = append(byGroup[k], i)
	}
	var train, val []int
	for _, rows := range byGroup {
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		nv := 0
		if cfg.valFraction > 0 && len(rows) >= 4 {
			nv = max(int(math.Round(cfg.valFraction*float64(len(rows)))), 1)
		}
		val = append(val, rows[:nv]...)
		train = append(train, rows[nv:]...)
	}
	if len(train) == 0 {
		return fmt.Errorf("%w: no training rows", ErrInput)
	}
	batch := min(cfg.batch, len(train))
	tr := newNetTrainer(net, x, in, y, w, g, cfg, batch)

	best := net.clone()
	bestLoss := math.Inf(1)
	stale := 0
	order := append([]int(nil), train...)
	var step float64
	const b1, b2, eps = 0.9, 0.999, 1e-8
	for epoch := 0; epoch < cfg.epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for start := 0; start < len(order); start += batch {
			// An epoch on many rows takes seconds; a stop ends the fit
			// within one minibatch.
			if cfg.stop != nil {
				if err := cfg.stop(); err != nil {
					return err
				}
			}
			rows := order[start:min(start+batch, len(order))]
			if len(rows) < batch/2 && start > 0 {
				continue // drop a short last batch
			}
			if math.IsNaN(tr.gradient(rows)) {
				continue
			}
			// Adam step with L2 on the weights.
			step++
			c1, c2 := 1-math.Pow(b1, step), 1-math.Pow(b2, step)
			for _, p := range tr.params {
				for j, gv := range p.g {
					if p.decay {
						gv += cfg.l2 * p.w[j]
					}
					p.m[j] = b1*p.m[j] + (1-b1)*gv
					p.v[j] = b2*p.v[j] + (1-b2)*gv*gv
					p.w[j] -= cfg.learnRate * (p.m[j] / c1) / (math.Sqrt(p.v[j]/c2) + eps)
				}
			}
		}
		if cfg.epochDone != nil {
			cfg.epochDone()
		}
		if len(val) == 0 {
			continue
		}
		loss := netLoss(net, x, in, y, w, g, val, cfg.classification)
		if math.IsNaN(loss) {
			return fmt.Errorf("network training diverged at epoch %d", epoch+1)
		}
		if loss < bestLoss {
			bestLoss, stale = loss, 0
			best.copyFrom(net)
		} else if stale++; stale >= cfg.patience {
			break
		}
	}
	if len(val) > 0 {
		net.copyFrom(best)
	}
	for _, p := range tr.params {
		for _, v := range p.w {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("network training diverged")
			}
		}
	}
	return nil
}

// netLoss returns the weighted outcome loss of net on the rows idx.
func netLoss(net *Network, x []float64, in int, y, w []float64, g []int, idx []int, classification bool) float64 {
	const chunk = 256
	buf := net.newScratch(in, chunk)
	xb := make([]float64, chunk*in)
	out := make([][]float64, len(net.Heads))
	for k := range out {
		out[k] = make([]float64, chunk)
	}
	var sum, sw float64
	for s := 0; s < len(idx); s += chunk {
		rows := idx[s:min(s+chunk, len(idx))]
		for r, i := range rows {
			copy(xb[r*in:(r+1)*in], x[i*in:(i+1)*in])
		}
		net.predict(out, xb, len(rows), buf)
		for r, i := range rows {
			ww := 1.0
			if w != nil {
				ww = w[i]
			}
			o := out[g[i]][r]
			if classification {
				sum += ww * logLoss(y[i], o)
			} else {
				sum += ww * (o - y[i]) * (o - y[i])
			}
			sw += ww
		}
	}
	if !(sw > 0) {
		return 0 // validation rows without weight carry no information
	}
	return sum / sw
}

// logLoss returns −y log σ(o) − (1−y) log(1−σ(o)) computed stably.
func logLoss(y, o float64) float64 {
	return softplus(o) - y*o
}

func softmaxInPlace(v []float64) {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = max(mx, x)
	}
	s := 0.0
	for i, x := range v {
		v[i] = math.Exp(x - mx)
		s += v[i]
	}
	for i := range v {
		v[i] /= s
	}
}

// netScaler standardises features: z = (x − Mean) / Scale per column,
// after one-hot encoding the categorical columns when Encoder is set.
type netScaler struct {
	Encoder *Encoder  `json:"encoder,omitempty"`
	Mean    []float64 `json:"mean"`
	Scale   []float64 `json:"scale"`
}

// fitScaler computes the weighted column means and standard deviations
// of x (a zero deviation becomes 1).
func fitScaler(x *mat.Dense, w []float64, categorical []bool) (netScaler, error) {
	var s netScaler
	if categorical != nil {
		e, err := FitEncoder(x, categorical)
		if err != nil {
			return s, err
		}
		s.Encoder = e
		x = e.Transform(nil, x)
	}
	n, p := x.Dims()
	s.Mean, s.Scale = make([]float64, p), make([]float64, p)
	sw := 0.0
	for i := 0; i < n; i++ {
		ww := 1.0
		if w != nil {
			ww = w[i]
		}
		sw += ww
		for j := 0; j < p; j++ {
			s.Mean[j] += ww * x.At(i, j)
		}
	}
	if !(sw > 0) {
		return s, fmt.Errorf("%w: weights sum to %v", ErrInput, sw)
	}
	for j := range s.Mean {
		s.Mean[j] /= sw
	}
	for i := 0; i < n; i++ {
		ww := 1.0
		if w != nil {
			ww = w[i]
		}
		for j := 0; j < p; j++ {
			d := x.At(i, j) - s.Mean[j]
			s.Scale[j] += ww * d * d
		}
	}
	for j := range s.Scale {
		s.Scale[j] = math.Sqrt(s.Scale[j] / sw)
		if !(s.Scale[j] > 1e-12) {
			s.Scale[j] = 1
		}
	}
	return s, nil
}

// inputs returns the number of columns the network reads.
func (s *netScaler) inputs() int { return len(s.Mean) }

// validate checks a decoded scaler.
func (s *netScaler) validate() error {
	if len(s.Mean) == 0 || len(s.Mean) != len(s.Scale) {
		return fmt.Errorf("scaler with %d means and %d scales", len(s.Mean), len(s.Scale))
	}
	if s.Encoder != nil && s.Encoder.Width() != len(s.Mean) {
		return fmt.Errorf("encoder gives %d columns, scaler has %d", s.Encoder.Width(), len(s.Mean))
	}
	return nil
}

// transform returns the standardised rows of x, row-major.
func (s *netScaler) transform(x *mat.Dense) []float64 {
	if s.Encoder != nil {
		x = s.Encoder.Transform(nil, x)
	}
	n, p := x.Dims()
	if p != len(s.Mean) {
		panic(fmt.Sprintf("causal: network input has %d columns, want %d", p, len(s.Mean)))
	}
	out := make([]float64, n*p)
	raw := x.RawMatrix()
	for i := 0; i < n; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+p]
		for j, v := range row {
			out[i*p+j] = (v - s.Mean[j]) / s.Scale[j]
		}
	}
	return out
}

// netOutputs returns, for the standardised rows x (n×in), the mean over
// nets of every head's output, out[k][i], on the probability scale σ(h)
// when classification.
func netOutputs(nets []*Network, x []float64, in, n int, classification bool) [][]float64 {
	heads := len(nets[0].Heads)
	out := make([][]float64, heads)
	for k := range out {
		out[k] = make([]float64, n)
	}
	const chunk = 512
	tmp := make([][]float64, heads)
	for k := range tmp {
		tmp[k] = make([]float64, chunk)
	}
	for _, net := range nets {
		buf := net.newScratch(in, chunk)
		for s := 0; s < n; s += chunk {
			rows := min(chunk, n-s)
			net.predict(tmp, x[s*in:(s+rows)*in], rows, buf)
			for k := range out {
				for r := 0; r < rows; r++ {
					v := tmp[k][r]
					if classification {
						v = sigmoid(v)
					}
					out[k][s+r] += v
				}
			}
		}
	}
	for k := range out {
		for i := range out[k] {
			out[k][i] /= float64(len(nets))
		}
	}
	return out
}
