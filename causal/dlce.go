package causal

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// DLCE is the unbiased learner of the causal effect of recommendation of
// Sato et al. (2020), "Unbiased Learning for the Causal Effect of
// Recommendation" (RecSys 2020). It scores a user–item row by
//
//	s_ui = b_i + wᵀz_ui + p_uᵀq_i,
//
// an item bias, a linear term over the standardised features z_ui of the
// row, and a matrix factorisation over user and item ids, and fits it by
// stochastic gradient descent on the IPS estimate of an upper bound of
// the causal average rank (CAR) with capped propensities,
//
//	L = Σ_{(u,i): Y_ui≠0} Σ_j [ ω⁺_ui ℓ(s_ui − s_uj) + ω⁻_ui ℓ(s_uj − s_ui) ] + λ‖Θ‖²,
//	ω⁺ = Z·Y / max(P, χ),  ω⁻ = (1−Z)·Y / max(1−P, χ),  ℓ(d) = log(1 + e^−d),
//
// where Z is the treatment, P = P(Z = 1) and j runs over Negatives rows
// of the same user drawn uniformly at each visit. Recommended rows with an
// outcome push their item up, unrecommended rows with an outcome (the
// outcome happens anyway) push it down. The weights are rescaled to mean
// 1, which leaves the minimiser unchanged up to λ.
//
// As an UpliftEstimator, the user and item ids are two columns of X
// (UserCol and ItemCol) holding any exact codes, for example hashes of the
// ids; the other columns are the features. With UserCol < 0 every row is
// one user's, and with ItemCol < 0 there are no item biases or factors.
// The "effect" of a fitted model is the score s_ui: it orders a user's
// items by their causal effect but is not on the scale of the outcome.
// Unseen users and items contribute no factor or bias term. Only one
// treated arm is supported; with no propensities, the treated share of
// the rows is used for every row (a randomised log).
type DLCE struct {
	// Dim is the number of latent factors (0 means 10).
	Dim int
	// Epochs is the number of passes over the rows with an outcome (0
	// means 60).
	Epochs int
	// Negatives is the number of items j drawn per visit (0 means 5).
	Negatives int
	// LearnRate is the SGD step size (0 means 0.003).
	LearnRate float64
	// L2 is λ, applied at every step to the parameters it updates (0
	// means 0.1).
	L2 float64
	// Cap is the propensity cap χ in (0, 0.5) (0 means 0.05).
	Cap float64
	// UserCol and ItemCol are the columns of X holding the user and item
	// codes; negative means none.
	UserCol, ItemCol int
}

// withDefaults fills the zero fields and checks the values.
func (d DLCE) withDefaults() (DLCE, error) {
	if d.Dim == 0 {
		d.Dim = 10
	}
	if d.Epochs == 0 {
		d.Epochs = 60
	}
	if d.Negatives == 0 {
		d.Negatives = 5
	}
	if d.LearnRate == 0 {
		d.LearnRate = 0.003
	}
	if d.L2 == 0 {
		d.L2 = 0.1
	}
	if d.Cap == 0 {
		d.Cap = 0.05
	}
	switch {
	case d.Dim < 1 || d.Epochs < 1 || d.Negatives < 1:
		return d, fmt.Errorf("%w: dlce needs positive dim, epochs and negatives", ErrParam)
	case !(d.LearnRate > 0) || math.IsInf(d.LearnRate, 0):
		return d, fmt.Errorf("%w: dlce learning rate %v is not positive", ErrParam, d.LearnRate)
	case !(d.L2 >= 0) || math.IsInf(d.L2, 0):
		return d, fmt.Errorf("%w: dlce l2 %v is negative or not finite", ErrParam, d.L2)
	case !(d.Cap > 0 && d.Cap < 0.5):
		return d, fmt.Errorf("%w: dlce propensity cap %v is not in (0, 0.5)", ErrParam, d.Cap)
	case d.UserCol >= 0 && d.UserCol == d.ItemCol:
		return d, fmt.Errorf("%w: dlce user and item columns are both %d", ErrParam, d.UserCol)
	}
	return d, nil
}

// newDLCEEstimator reads dim, epochs, negatives, learn_rate, l2, cap,
// user_col and item_col (default -1: none).
func newDLCEEstimator(p *Params, _ Registry) (UpliftEstimator, error) {
	var d DLCE
	var err error
	ints := []struct {
		name string
		dst  *int
		def  int
	}{{"dim", &d.Dim, 0}, {"epochs", &d.Epochs, 0}, {"negatives", &d.Negatives, 0}, {"user_col", &d.UserCol, -1}, {"item_col", &d.ItemCol, -1}}
	for _, f := range ints {
		if *f.dst, err = p.Int(f.name, f.def); err != nil {
			return nil, err
		}
	}
	floats := []struct {
		name string
		dst  *float64
	}{{"learn_rate", &d.LearnRate}, {"l2", &d.L2}, {"cap", &d.Cap}}
	for _, f := range floats {
		if *f.dst, err = p.Float(f.name, 0); err != nil {
			return nil, err
		}
	}
	return d.withDefaults()
}

// DLCEModel is a fitted DLCE scorer. Its exported fields describe it
// completely (it is saved with Marshal under kind "dlce").
type DLCEModel struct {
	Dim     int `json:"dim"`
	NCols   int `json:"n_cols"`
	UserCol int `json:"user_col"`
	ItemCol int `json:"item_col"`
	// Cols are the feature columns of X, with their standardisation and
	// weights.
	Cols []int     `json:"cols"`
	Mean []float64 `json:"mean"`
	Sdev []float64 `json:"sdev"`
	W    []float64 `json:"w"`
	// UserCodes and ItemCodes are the codes of the fitted users and items;
	// P and Q their factors (Dim per id; one anonymous user when there is
	// no user column) and B the item biases.
	UserCodes []float64 `json:"user_codes"`
	ItemCodes []float64 `json:"item_codes"`
	P         []float64 `json:"p"`
	Q         []float64 `json:"q"`
	B         []float64 `json:"b"`

	users, items map[float64]int
}

// Kind implements Kinded.
func (m *DLCEModel) Kind() string { return "dlce" }

// Validate checks the lengths of the fields and builds the id indexes.
func (m *DLCEModel) Validate() error {
	nc, nu, ni := len(m.Cols), len(m.UserCodes), len(m.ItemCodes)
	switch {
	case m.Dim < 1:
		return fmt.Errorf("dlce model: dim %d", m.Dim)
	case len(m.Mean) != nc || len(m.Sdev) != nc || len(m.W) != nc:
		return fmt.Errorf("dlce model: %d columns but %d means, %d deviations, %d weights", nc, len(m.Mean), len(m.Sdev), len(m.W))
	case len(m.P) != max(nu, 1)*m.Dim || len(m.Q) != ni*m.Dim || len(m.B) != ni:
		return fmt.Errorf("dlce model: factor lengths do not match %d users and %d items", nu, ni)
	case m.UserCol >= m.NCols || m.ItemCol >= m.NCols:
		return fmt.Errorf("dlce model: id column out of range")
	}
	for _, c := range m.Cols {
		if c < 0 || c >= m.NCols {
			return fmt.Errorf("dlce model: column %d out of range", c)
		}
	}
	m.users, m.items = codeIndex(m.UserCodes), codeIndex(m.ItemCodes)
	return nil
}

func codeIndex(codes []float64) map[float64]int {
	out := make(map[float64]int, len(codes))
	for i, c := range codes {
		out[c] = i
	}
	return out
}

// FitUplift implements UpliftEstimator.
func (d DLCE) FitUplift(data UpliftData, src rand.Source) (UpliftModel, error) {
	return d.Fit(data, src)
}

// Fit fits DLCE on data (one treated arm; see DLCE for the id columns).
func (d DLCE) Fit(data UpliftData, src rand.Source) (*DLCEModel, error) {
	d, err := d.withDefaults()
	if err != nil {
		return nil, err
	}
	if data.X == nil {
		return nil, fmt.Errorf("%w: dlce: no rows", ErrInput)
	}
	n, nc := data.X.Dims()
	switch {
	case data.Arms != 1:
		return nil, fmt.Errorf("%w: dlce supports one treated arm, got %d", ErrInput, data.Arms)
	case len(data.Treatment) != n || len(data.Y) != n:
		return nil, fmt.Errorf("%w: dlce: %d rows but %d treatments and %d outcomes", ErrInput, n, len(data.Treatment), len(data.Y))
	case data.Propensity != nil && len(data.Propensity) != n:
		return nil, fmt.Errorf("%w: dlce: %d propensities for %d rows", ErrInput, len(data.Propensity), n)
	case d.UserCol >= nc || d.ItemCol >= nc:
		return nil, fmt.Errorf("%w: dlce: id column out of range of %d columns", ErrInput, nc)
	}
	rng := rand.New(src)
	k := d.Dim
	m := &DLCEModel{Dim: k, NCols: nc, UserCol: d.UserCol, ItemCol: d.ItemCol}
	for c := range nc {
		if c != d.UserCol && c != d.ItemCol {
			m.Cols = append(m.Cols, c)
		}
	}
	// Dense user and item indexes in order of first appearance.
	user, item := make([]int, n), make([]int, n)
	m.users, m.items = map[float64]int{}, map[float64]int{}
	index := func(col int, codes *[]float64, idx map[float64]int, dst []int) {
		if col < 0 {
			return
		}
		for r := range n {
			c := data.X.At(r, col)
			i, ok := idx[c]
			if !ok {
				i = len(*codes)
				idx[c] = i
				*codes = append(*codes, c)
			}
			dst[r] = i
		}
	}
	index(d.UserCol, &m.UserCodes, m.users, user)
	index(d.ItemCol, &m.ItemCodes, m.items, item)
	nu, ni := max(1, len(m.UserCodes)), len(m.ItemCodes)
	m.P, m.Q, m.B = make([]float64, nu*k), make([]float64, ni*k), make([]float64, ni)
	for j := range m.P {
		m.P[j] = 0.1 * rng.NormFloat64()
	}
	for j := range m.Q {
		m.Q[j] = 0.1 * rng.NormFloat64()
	}
	nf := len(m.Cols)
	m.Mean, m.Sdev, m.W = make([]float64, nf), make([]float64, nf), make([]float64, nf)
	z := make([]float64, n*nf)
	for j, c := range m.Cols {
		col := mat.Col(nil, c, data.X)
		var s, ss float64
		for _, v := range col {
			s += v
		}
		mu := s / float64(n)
		for _, v := range col {
			ss += (v - mu) * (v - mu)
		}
		sd := math.Sqrt(ss / float64(n))
		if sd == 0 {
			sd = 1
		}
		m.Mean[j], m.Sdev[j] = mu, sd
		for r, v := range col {
			z[r*nf+j] = (v - mu) / sd
		}
	}
	// P(Z = 1) of each row: the logged propensity of the arm received
	// gives it; without propensities, the treated share.
	pt := make([]float64, n)
	if data.Propensity == nil {
		var nt float64
		for _, t := range data.Treatment {
			if t != 0 {
				nt++
			}
		}
		for r := range pt {
			pt[r] = nt / float64(n)
		}
	} else {
		for r, t := range data.Treatment {
			pt[r] = data.Propensity[r]
			if t == 0 {
				pt[r] = 1 - pt[r]
			}
		}
	}
	type pos struct {
		row int
		w   float64 // signed weight: ω⁺ > 0 or −ω⁻ < 0
	}
	var rows []pos
	var tot float64
	for r := range n {
		y := data.Y[r]
		if y == 0 {
			continue
		}
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return nil, fmt.Errorf("%w: dlce: outcome of row %d is not finite", ErrInput, r)
		}
		var w float64
		if data.Treatment[r] != 0 {
			w = y / max(pt[r], d.Cap)
		} else {
			w = -y / max(1-pt[r], d.Cap)
		}
		rows = append(rows, pos{r, w})
		tot += math.Abs(w)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: dlce needs rows with a non-zero outcome", ErrInput)
	}
	scale := float64(len(rows)) / tot
	byUser := make([][]int, nu)
	for r, u := range user {
		byUser[u] = append(byUser[u], r)
	}
	lr, l2 := d.LearnRate, d.L2
	hasItems := ni > 0
	score := func(r int) float64 {
		var s float64
		for j := range nf {
			s += m.W[j] * z[r*nf+j]
		}
		if hasItems {
			i, u := item[r], user[r]
			s += m.B[i]
			pu, qi := m.P[u*k:(u+1)*k], m.Q[i*k:(i+1)*k]
			for f := range k {
				s += pu[f] * qi[f]
			}
		}
		return s
	}
	grad := make([]float64, k)
	prog := startProgress(src, d.Epochs)
	for e := range d.Epochs {
		if err := stopped(src); err != nil {
			return nil, err
		}
		prog.to(e) // the epochs done before this one
		rng.Shuffle(len(rows), func(a, b int) { rows[a], rows[b] = rows[b], rows[a] })
		for _, ps := range rows {
			ri := ps.row
			u, i := user[ri], item[ri]
			cand := byUser[u]
			w := ps.w * scale
			for range d.Negatives {
				rj := cand[rng.IntN(len(cand))]
				j := item[rj]
				if rj == ri || (hasItems && j == i) {
					continue
				}
				diff := score(ri) - score(rj)
				// g = dL/d(diff): for w > 0 the loss is w·ℓ(diff), for w < 0
				// it is |w|·ℓ(−diff); both give g = −w·σ(−sign(w)·diff).
				var g float64
				if w > 0 {
					g = -w * sigmoid(-diff)
				} else {
					g = -w * sigmoid(diff)
				}
				for f := range nf {
					m.W[f] -= lr * (g*(z[ri*nf+f]-z[rj*nf+f]) + l2*m.W[f])
				}
				if !hasItems {
					continue
				}
				m.B[i] -= lr * (g + l2*m.B[i])
				m.B[j] -= lr * (-g + l2*m.B[j])
				pu, qi, qj := m.P[u*k:(u+1)*k], m.Q[i*k:(i+1)*k], m.Q[j*k:(j+1)*k]
				for f := range k {
					grad[f] = g * (qi[f] - qj[f])
				}
				for f := range k {
					gi, gj := g*pu[f], -g*pu[f]
					qi[f] -= lr * (gi + l2*qi[f])
					qj[f] -= lr * (gj + l2*qj[f])
					pu[f] -= lr * (grad[f] + l2*pu[f])
				}
			}
		}
	}
	prog.finish()
	return m, nil
}

// Effects implements UpliftModel: the score s_ui of each row of x, which
// has the columns of the training data.
func (m *DLCEModel) Effects(dst, x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	if dst == nil {
		dst = mat.NewDense(n, 1, nil)
	}
	if m.users == nil {
		m.users, m.items = codeIndex(m.UserCodes), codeIndex(m.ItemCodes)
	}
	k := m.Dim
	for r := range n {
		var s float64
		for j, c := range m.Cols {
			s += m.W[j] * (x.At(r, c) - m.Mean[j]) / m.Sdev[j]
		}
		i, okI := -1, false
		if m.ItemCol >= 0 {
			i, okI = m.items[x.At(r, m.ItemCol)]
		}
		if okI {
			s += m.B[i]
			u, okU := 0, m.UserCol < 0
			if m.UserCol >= 0 {
				u, okU = m.users[x.At(r, m.UserCol)]
			}
			if okU {
				pu, qi := m.P[u*k:(u+1)*k], m.Q[i*k:(i+1)*k]
				for f := range k {
					s += pu[f] * qi[f]
				}
			}
		}
		dst.Set(r, 0, s)
	}
	return dst
}
