package receval

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// DLCE is the unbiased learner of the causal effect of recommendation of
// Sato et al. (2020). It scores a user–item pair by
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
// where j runs over Negatives items of the same user drawn uniformly from
// its training rows at each visit. Recommended rows with an outcome push
// their item up, unrecommended rows with an outcome (the outcome happens
// anyway) push it down. The weights are rescaled to mean 1, which leaves
// the minimiser unchanged up to λ. The zero value uses the defaults.
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
}

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
		return d, fmt.Errorf("%w: dlce needs positive dim, epochs and negatives", ErrInput)
	case !(d.LearnRate > 0) || math.IsInf(d.LearnRate, 0):
		return d, fmt.Errorf("%w: dlce learning rate %v is not positive", ErrInput, d.LearnRate)
	case !(d.L2 >= 0) || math.IsInf(d.L2, 0):
		return d, fmt.Errorf("%w: dlce l2 %v is negative or not finite", ErrInput, d.L2)
	case !(d.Cap > 0 && d.Cap < 0.5):
		return d, fmt.Errorf("%w: dlce propensity cap %v is not in (0, 0.5)", ErrInput, d.Cap)
	}
	return d, nil
}

// DLCEModel is a fitted DLCE scorer.
type DLCEModel struct {
	train      *Log
	dim        int
	users      map[string]int
	items      map[string]int
	p, q       []float64 // user and item factors, dim per id
	b          []float64 // item biases
	w          []float64 // feature weights
	mean, sdev []float64 // feature standardisation
}

// Fit implements Ranker.
func (d DLCE) Fit(train *Log, src rand.Source) (Scorer, error) {
	return d.FitModel(train, src)
}

// FitModel fits DLCE on train.
func (d DLCE) FitModel(train *Log, src rand.Source) (*DLCEModel, error) {
	d, err := d.withDefaults()
	if err != nil {
		return nil, err
	}
	rng := rand.New(src)
	n, k := train.Len(), d.Dim
	nf := len(train.FeatureNames)
	m := &DLCEModel{
		train: train, dim: k,
		users: make(map[string]int, len(train.Users)), items: make(map[string]int, len(train.Items)),
		p: make([]float64, len(train.Users)*k), q: make([]float64, len(train.Items)*k),
		b: make([]float64, len(train.Items)), w: make([]float64, nf),
		mean: make([]float64, nf), sdev: make([]float64, nf),
	}
	for u, id := range train.Users {
		m.users[id] = u
	}
	for i, id := range train.Items {
		m.items[id] = i
	}
	for j := range m.p {
		m.p[j] = 0.1 * rng.NormFloat64()
	}
	for j := range m.q {
		m.q[j] = 0.1 * rng.NormFloat64()
	}
	var z []float64
	if nf > 0 {
		z = make([]float64, n*nf)
		for j := range nf {
			col := mat.Col(nil, j, train.X)
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
			m.mean[j], m.sdev[j] = mu, sd
			for r, v := range col {
				z[r*nf+j] = (v - mu) / sd
			}
		}
	}
	// Rows with a non-zero IPS weight, and each user's rows for sampling j.
	type pos struct {
		row int
		w   float64 // signed weight: ω⁺ > 0 or −ω⁻ < 0
	}
	var rows []pos
	var tot float64
	for r := range n {
		y := train.Outcome[r]
		if y == 0 {
			continue
		}
		var w float64
		if train.Treated[r] == 1 {
			w = y / max(train.Propensity[r], d.Cap)
		} else {
			w = -y / max(1-train.Propensity[r], d.Cap)
		}
		rows = append(rows, pos{r, w})
		tot += math.Abs(w)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: dlce needs rows with a non-zero outcome", ErrInput)
	}
	scale := float64(len(rows)) / tot
	byUser := make([][]int, len(train.Users))
	for r, u := range train.User {
		byUser[u] = append(byUser[u], r)
	}
	lr, l2 := d.LearnRate, d.L2
	score := func(r int) float64 {
		i, u := train.Item[r], train.User[r]
		s := m.b[i]
		for j := range nf {
			s += m.w[j] * z[r*nf+j]
		}
		pu, qi := m.p[u*k:(u+1)*k], m.q[i*k:(i+1)*k]
		for f := range k {
			s += pu[f] * qi[f]
		}
		return s
	}
	grad := make([]float64, k)
	for range d.Epochs {
		rng.Shuffle(len(rows), func(a, b int) { rows[a], rows[b] = rows[b], rows[a] })
		for _, ps := range rows {
			ri := ps.row
			u, i := train.User[ri], train.Item[ri]
			cand := byUser[u]
			w := ps.w * scale
			for range d.Negatives {
				rj := cand[rng.IntN(len(cand))]
				j := train.Item[rj]
				if j == i {
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
				m.b[i] -= lr * (g + l2*m.b[i])
				m.b[j] -= lr * (-g + l2*m.b[j])
				for f := range nf {
					m.w[f] -= lr * (g*(z[ri*nf+f]-z[rj*nf+f]) + l2*m.w[f])
				}
				pu, qi, qj := m.p[u*k:(u+1)*k], m.q[i*k:(i+1)*k], m.q[j*k:(j+1)*k]
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
	return m, nil
}

// Score implements Scorer. Unseen users and items contribute no factor
// or bias term.
func (m *DLCEModel) Score(l *Log) ([]float64, error) {
	nf := len(m.w)
	var x *mat.Dense
	if nf > 0 {
		var err error
		if x, err = AlignFeatures(m.train, l); err != nil {
			return nil, err
		}
	}
	k := m.dim
	uidx := make([]int, len(l.Users))
	for u, id := range l.Users {
		uidx[u] = -1
		if v, ok := m.users[id]; ok {
			uidx[u] = v
		}
	}
	iidx := make([]int, len(l.Items))
	for i, id := range l.Items {
		iidx[i] = -1
		if v, ok := m.items[id]; ok {
			iidx[i] = v
		}
	}
	out := make([]float64, l.Len())
	for r := range out {
		var s float64
		if nf > 0 {
			row := x.RawRowView(r)
			for j := range nf {
				s += m.w[j] * (row[j] - m.mean[j]) / m.sdev[j]
			}
		}
		u, i := uidx[l.User[r]], iidx[l.Item[r]]
		if i >= 0 {
			s += m.b[i]
			if u >= 0 {
				pu, qi := m.p[u*k:(u+1)*k], m.q[i*k:(i+1)*k]
				for f := range k {
					s += pu[f] * qi[f]
				}
			}
		}
		out[r] = s
	}
	return out, nil
}
