package causal

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

func metricsClose(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return scalar.EqualWithinAbsOrRel(got, want, 1e-10, 1e-10)
}

// metricsCases are small examples computed by hand; the arithmetic is in
// the comments. Rows are listed in rank order unless said otherwise.
var metricsCases = []struct {
	name                       string
	score, y                   []float64
	t                          []int
	k                          float64
	qini, qiniCML, auuc, upAtK float64
}{
	{
		// n = 6, distinct scores.
		// prefix k: (Nt, Yt, Nc, Yc) → Q = Yt − Yc·Nt/Nc (Yt if Nc=0), U = (Yt/Nt − Yc/Nc)·k
		//   1: (1,1,0,0) Q=1    U=1
		//   2: (1,1,1,0) Q=1    U=2
		//   3: (2,2,1,0) Q=2    U=3
		//   4: (2,2,2,1) Q=1    U=(1−1/2)·4=2
		//   5: (3,2,2,1) Q=1/2  U=(2/3−1/2)·5=5/6
		//   6: (3,2,3,1) Q=1    U=(2/3−1/3)·6=2
		// Qini area = 1/2+1+3/2+3/2+3/4+3/4 = 6; random = 6·1/2 = 3.
		// Perfect Qini: n11=2, then tie {n10=1, n00=2}, then n01=1:
		//   (2, Q=2) area 2; (5, Q=2) area 6; (6, Q=2−1·3/3=1) area 3/2 → 9.5.
		// qini = (6−3)/(9.5−3) = 3/6.5.
		// CausalML: knot k=1 has Nc=0 and is interpolated: area' over
		//   (0,0),(2,1),(3,2),(4,1),(5,1/2),(6,1) = 1+3/2+3/2+3/4+3/4 = 5.5;
		//   (5.5 − 3)/((6+1)·|1|) = 2.5/7. Row sum check: q = 0,.5,1,2,1,.5,1
		//   sums to 6, random rows k/6 sum to 3.5, (6−3.5)/7 = 2.5/7.
		// Uplift area = 1/2+3/2+5/2+5/2+17/12+17/12 = 59/6; random = 6·2/2 = 6.
		// Perfect uplift: cr=n01=1, tn=n10=1, cr>tn is false so s=t:
		//   order TR(2), CN(2), TN(1), CR(1):
		//   (2,U=2) area 2; (4,U=4) area 6; (5,U=(2/3)·5=10/3) area 11/3;
		//   (6,U=2) area 8/3 → 43/3.
		// auuc = (59/6−6)/(43/3−6) = (23/6)/(25/3) = 23/50.
		// uplift@0.5: top floor(3) = rows 0,1,2: treated mean 1, control 0.
		name:  "distinct",
		score: []float64{0.9, 0.8, 0.7, 0.6, 0.5, 0.4},
		t:     []int{1, 0, 1, 0, 1, 0},
		y:     []float64{1, 0, 1, 1, 0, 0},
		k:     0.5,
		qini:  3 / 6.5, qiniCML: 2.5 / 7, auuc: 23.0 / 50, upAtK: 1,
	},
	{
		// Same data, k = 0.7: top floor(4.2)=4 rows: treated {0,2} mean 1,
		// control {1,3} mean 1/2 → 1/2.
		name:  "distinct k=0.7",
		score: []float64{0.9, 0.8, 0.7, 0.6, 0.5, 0.4},
		t:     []int{1, 0, 1, 0, 1, 0},
		y:     []float64{1, 0, 1, 1, 0, 0},
		k:     0.7,
		qini:  3 / 6.5, qiniCML: 2.5 / 7, auuc: 23.0 / 50, upAtK: 0.5,
	},
	{
		// k = 0.3: top floor(1.8)=1 row, no control unit → NaN.
		name:  "distinct k=0.3",
		score: []float64{0.9, 0.8, 0.7, 0.6, 0.5, 0.4},
		t:     []int{1, 0, 1, 0, 1, 0},
		y:     []float64{1, 0, 1, 1, 0, 0},
		k:     0.3,
		qini:  3 / 6.5, qiniCML: 2.5 / 7, auuc: 23.0 / 50, upAtK: math.NaN(),
	},
	{
		// Ties: groups {0,1} and {2,3}.
		//   after {0,1}: (1,1,1,0) Q=1 U=2; after {2,3}: (2,1,2,0) Q=1 U=(1/2)·4=2.
		// Qini area over (0,0),(2,1),(4,1) = 1+2 = 3; random 4·1/2 = 2.
		// Perfect: n11=1, n10=1, n01=0, n00=2: (1,Q=1) area 1/2, tie (4,Q=1) area 3 → 3.5.
		// qini = (3−2)/(3.5−2) = 2/3.
		// CausalML: knots with Nc>0 (0,0),(2,1),(4,1) → area' 3; (3−2)/(5·1) = 0.2.
		// Uplift area over (0,0),(2,2),(4,2) = 2+4 = 6; random 4·2/2 = 4.
		// Perfect uplift: cr=0, tn=1 → s=t, order TR, CN, TN:
		//   (1,U=1) 1/2; (3,U=3) 4; (4,U=(1/2)·4=2) 5/2 → 7. auuc = (6−4)/(7−4) = 2/3.
		// uplift@0.75: cut 3 in sklift order (score desc, row desc): rows 1,0,3:
		//   treated {0} mean 1, control {1,3} mean 0 → 1. (Row-ascending ties
		//   would take rows 0,1,2 and give 1/2.)
		name:  "ties",
		score: []float64{0.5, 0.5, 0.2, 0.2},
		t:     []int{1, 0, 1, 0},
		y:     []float64{1, 0, 0, 0},
		k:     0.75,
		qini:  2.0 / 3, qiniCML: 0.2, auuc: 2.0 / 3, upAtK: 1,
	},
	{
		// Continuous outcome.
		//   1: (1,2,0,0)   Q=2    U=2
		//   2: (1,2,1,1)   Q=1    U=(2−1)·2=2
		//   3: (2,2.5,1,1) Q=2.5−2=0.5  U=(1.25−1)·3=0.75
		//   4: (2,2.5,2,4) Q=2.5−4=−1.5 U=(1.25−2)·4=−3
		// Qini area = 1+3/2+3/4−1/2 = 2.75; random 4·(−1.5)/2 = −3.
		// Perfect score y·t−y·(1−t) = 2,−1,0.5,−3 → rows 0,2,1,3:
		//   Q = 2, 2.5, 0.5, −1.5 → area 1+2.25+1.5−0.5 = 4.25.
		// qini = (2.75+3)/(4.25+3) = 5.75/7.25.
		// CausalML: area' over (0,0),(2,1),(3,.5),(4,−1.5) = 1+.75−.5 = 1.25;
		//   (1.25+3)/(5·1.5) = 4.25/7.5.
		// Uplift area = 1+2+1.375−1.125 = 3.25; random 4·(−3)/2 = −6.
		// Perfect uplift (same order): U = 2, 2.5, 0.75, −3 → 1+2.25+1.625−1.125 = 3.75.
		// auuc = (3.25+6)/(3.75+6) = 9.25/9.75.
		// uplift@0.5: rows 0,1 → 2 − 1 = 1.
		name:  "continuous",
		score: []float64{4, 3, 2, 1},
		t:     []int{1, 0, 1, 0},
		y:     []float64{2, 1, 0.5, 3},
		k:     0.5,
		qini:  5.75 / 7.25, qiniCML: 4.25 / 7.5, auuc: 9.25 / 9.75, upAtK: 1,
	},
}

func TestUpliftScoresHand(t *testing.T) {
	for _, c := range metricsCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := UpliftScores(c.score, c.t, c.y, nil, c.k)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []struct {
				name      string
				got, want float64
			}{
				{"qini", got.Qini, c.qini},
				{"qini_causalml", got.QiniCausalML, c.qiniCML},
				{"auuc", got.AUUC, c.auuc},
				{"uplift_at_k", got.UpliftAtK, c.upAtK},
			} {
				if !metricsClose(m.got, m.want) {
					t.Errorf("%s = %v, want %v", m.name, m.got, m.want)
				}
			}
			// Shuffling the rows must not change anything but the
			// within-tie order, which only uplift at k sees.
			if c.name == "ties" {
				return
			}
			p := rand.New(rand.NewPCG(1, 2)).Perm(len(c.y))
			s2, t2, y2 := make([]float64, len(p)), make([]int, len(p)), make([]float64, len(p))
			for i, j := range p {
				s2[i], t2[i], y2[i] = c.score[j], c.t[j], c.y[j]
			}
			got2, err := UpliftScores(s2, t2, y2, nil, c.k)
			if err != nil {
				t.Fatal(err)
			}
			if !metricsClose(got2.Qini, c.qini) || !metricsClose(got2.AUUC, c.auuc) || !metricsClose(got2.UpliftAtK, c.upAtK) {
				t.Errorf("shuffled rows: got %+v", got2)
			}
		})
	}
}

func TestCurvesHand(t *testing.T) {
	c := metricsCases[0]
	q, err := QiniCurve(c.score, c.t, c.y, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := UpliftCurve(c.score, c.t, c.y, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantX := []float64{0, 1, 2, 3, 4, 5, 6}
	wantQ := []float64{0, 1, 1, 2, 1, 0.5, 1}
	wantU := []float64{0, 1, 2, 3, 2, 5.0 / 6, 2}
	for i := range wantX {
		if q.X[i] != wantX[i] || !metricsClose(q.Y[i], wantQ[i]) || !metricsClose(u.Y[i], wantU[i]) {
			t.Fatalf("knot %d: qini (%v, %v) uplift %v, want (%v, %v) %v", i, q.X[i], q.Y[i], u.Y[i], wantX[i], wantQ[i], wantU[i])
		}
	}
	pq, err := PerfectQiniCurve(c.t, c.y, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Perfect Qini knots: scores 1 (rows 0,2), tie 0 (rows 1,4,5), −1 (row 3).
	wantPX, wantPQ := []float64{0, 2, 5, 6}, []float64{0, 2, 2, 1}
	if len(pq.X) != len(wantPX) || !pq.Perfect {
		t.Fatalf("perfect qini curve %+v", pq)
	}
	for i := range wantPX {
		if pq.X[i] != wantPX[i] || !metricsClose(pq.Y[i], wantPQ[i]) {
			t.Errorf("perfect knot %d = (%v, %v), want (%v, %v)", i, pq.X[i], pq.Y[i], wantPX[i], wantPQ[i])
		}
	}
	pu, err := PerfectUpliftCurve(c.t, c.y, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantPU := []float64{0, 2, 4, 10.0 / 3, 2}
	for i := range wantPU {
		if !metricsClose(pu.Y[i], wantPU[i]) {
			t.Errorf("perfect uplift knot %d = %v, want %v", i, pu.Y[i], wantPU[i])
		}
	}
	rc := RandomCurve(q)
	if rc.X[1] != 6 || rc.Y[1] != 1 {
		t.Errorf("random line ends at (%v, %v), want (6, 1)", rc.X[1], rc.Y[1])
	}
}

// metricsNaive follows scikit-uplift's and CausalML's code step by step,
// row by row, with a comparison sort; it is the reference the fast code
// is checked against.
func metricsNaive(score []float64, t []int, y []float64, k float64) UpliftMetrics {
	n := len(y)
	ord := make([]int, n)
	for i := range ord {
		ord[i] = n - 1 - i
	}
	sort.SliceStable(ord, func(a, b int) bool { return score[ord[a]] > score[ord[b]] })
	curve := func(s []float64, uplift bool) (xs, vs []float64) {
		o := make([]int, n)
		for i := range o {
			o[i] = n - 1 - i
		}
		sort.SliceStable(o, func(a, b int) bool { return s[o[a]] > s[o[b]] })
		xs, vs = []float64{0}, []float64{0}
		var nt, nc, yt, yc float64
		for i, r := range o {
			if t[r] == 1 {
				nt++
				yt += y[r]
			} else {
				nc++
				yc += y[r]
			}
			if i < n-1 && s[o[i+1]] == s[r] {
				continue
			}
			var v float64
			if uplift {
				a, b := 0.0, 0.0
				if nt > 0 {
					a = yt / nt
				}
				if nc > 0 {
					b = yc / nc
				}
				v = (a - b) * float64(i+1)
			} else {
				v = yt
				if nc > 0 {
					v -= yc * nt / nc
				}
			}
			xs = append(xs, float64(i+1))
			vs = append(vs, v)
		}
		return xs, vs
	}
	auc := func(x, v []float64) float64 {
		var a float64
		for i := 1; i < len(x); i++ {
			a += (x[i] - x[i-1]) * (v[i] + v[i-1]) / 2
		}
		return a
	}
	norm := func(uplift bool, perfect []float64) float64 {
		xa, va := curve(score, uplift)
		xp, vp := curve(perfect, uplift)
		base := xp[len(xp)-1] * vp[len(vp)-1] / 2
		return (auc(xa, va) - base) / (auc(xp, vp) - base)
	}
	binary := true
	var cr, tn int
	pq := make([]float64, n)
	for i := range y {
		if y[i] != 0 && y[i] != 1 {
			binary = false
		}
		pq[i] = y[i] * float64(t[i])
		if t[i] == 0 {
			pq[i] = -y[i]
		}
		if t[i] == 0 && y[i] == 1 {
			cr++
		}
		if t[i] == 1 && y[i] == 0 {
			tn++
		}
	}
	pu := pq
	if binary {
		pu = make([]float64, n)
		for i := range y {
			s := float64(t[i])
			if cr > tn {
				s = y[i]
			}
			if y[i] == float64(t[i]) {
				s += 2
			}
			pu[i] = s
		}
	}
	var m UpliftMetrics
	m.K = k
	m.Qini = norm(false, pq)
	m.AUUC = norm(true, pu)
	// CausalML: per row, NaN where no control yet, linear interpolation,
	// divide by |last|, subtract the mean-of-random-orderings line.
	q := make([]float64, n+1)
	valid := make([]bool, n+1)
	valid[0] = true
	var nt, nc, yt, yc float64
	for i, r := range ord {
		if t[r] == 1 {
			nt++
			yt += y[r]
		} else {
			nc++
			yc += y[r]
		}
		if nc > 0 {
			q[i+1] = yt - yc*nt/nc
			valid[i+1] = true
		}
	}
	for i := 1; i <= n; i++ {
		if valid[i] {
			continue
		}
		j := i
		for !valid[j] {
			j++
		}
		for l := i; l < j; l++ {
			q[l] = q[i-1] + (q[j]-q[i-1])*float64(l-i+1)/float64(j-i+1)
		}
		i = j
	}
	var sum float64
	for i := range q {
		sum += q[i]/math.Abs(q[n]) - float64(i)/float64(n)*q[n]/math.Abs(q[n])
	}
	m.QiniCausalML = sum / float64(n+1)
	// uplift_at_k, strategy "overall".
	top := int(float64(n) * k)
	var st, sc, ct, cc float64
	for _, r := range ord[:top] {
		if t[r] == 1 {
			st += y[r]
			ct++
		} else {
			sc += y[r]
			cc++
		}
	}
	m.UpliftAtK = st/ct - sc/cc
	return m
}

func metricsRandomData(n int, binary, ties bool, seed uint64) (score []float64, t []int, y []float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	score, t, y = make([]float64, n), make([]int, n), make([]float64, n)
	for i := range n {
		x := rng.NormFloat64()
		score[i] = x + 0.5*rng.NormFloat64()
		if ties {
			score[i] = math.Round(score[i] * 3)
		}
		if rng.Float64() < 0.4 {
			t[i] = 1
		}
		mu := 0.2 + 0.1*float64(t[i])*x
		if binary {
			if rng.Float64() < mu+0.2 {
				y[i] = 1
			}
		} else {
			y[i] = mu + rng.NormFloat64()
		}
	}
	return score, t, y
}

func TestUpliftScoresMatchNaive(t *testing.T) {
	for _, c := range []struct {
		n            int
		binary, ties bool
	}{
		{50, true, false}, {50, false, false}, {3000, true, false}, {3000, false, false},
		{5000, true, true}, {5000, false, true}, {200, true, true},
	} {
		score, tr, y := metricsRandomData(c.n, c.binary, c.ties, uint64(c.n))
		got, err := UpliftScores(score, tr, y, nil, 0.3)
		if err != nil {
			t.Fatal(err)
		}
		want := metricsNaive(score, tr, y, 0.3)
		check := []struct {
			name      string
			got, want float64
		}{
			{"qini", got.Qini, want.Qini},
			{"auuc", got.AUUC, want.AUUC},
			{"uplift_at_k", got.UpliftAtK, want.UpliftAtK},
		}
		// CausalML has no tie groups: it matches only for distinct scores.
		if !c.ties {
			check = append(check, struct {
				name      string
				got, want float64
			}{"qini_causalml", got.QiniCausalML, want.QiniCausalML})
		}
		for _, m := range check {
			if !scalar.EqualWithinAbsOrRel(m.got, m.want, 1e-9, 1e-9) {
				t.Errorf("n=%d binary=%v ties=%v: %s = %v, naive %v", c.n, c.binary, c.ties, m.name, m.got, m.want)
			}
		}
	}
}

// Integer weights are frequency weights: the metrics equal those of the
// data with each row repeated weight times.
func TestUpliftScoresWeightsReplicate(t *testing.T) {
	for _, binary := range []bool{true, false} {
		score, tr, y := metricsRandomData(400, binary, false, 9)
		rng := rand.New(rand.NewPCG(3, 4))
		w := make([]float64, len(y))
		var rs, ry []float64
		var rt []int
		for i := range w {
			w[i] = float64(rng.IntN(4))
			for range int(w[i]) {
				rs, rt, ry = append(rs, score[i]), append(rt, tr[i]), append(ry, y[i])
			}
		}
		got, err := UpliftScores(score, tr, y, w, 0.3)
		if err != nil {
			t.Fatal(err)
		}
		want, err := UpliftScores(rs, rt, ry, nil, 0.3)
		if err != nil {
			t.Fatal(err)
		}
		if !metricsClose(got.Qini, want.Qini) || !metricsClose(got.QiniCausalML, want.QiniCausalML) ||
			!metricsClose(got.AUUC, want.AUUC) || !metricsClose(got.UpliftAtK, want.UpliftAtK) {
			t.Errorf("binary=%v: weighted %+v, replicated %+v", binary, got, want)
		}
	}
}

// A ranking by the true effect scores far above a random one, and the
// perfect ranking scores exactly 1 under the scikit-uplift normalisations.
func TestUpliftScoresOrdering(t *testing.T) {
	n := 20000
	rng := rand.New(rand.NewPCG(5, 6))
	tau, noise := make([]float64, n), make([]float64, n)
	tr, y := make([]int, n), make([]float64, n)
	for i := range n {
		tau[i] = rng.NormFloat64() * 0.2
		noise[i] = rng.Float64()
		tr[i] = rng.IntN(2)
		p := 0.4 + float64(tr[i])*tau[i]
		if rng.Float64() < p {
			y[i] = 1
		}
	}
	good, err := UpliftScores(tau, tr, y, nil, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := UpliftScores(noise, tr, y, nil, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if !(good.Qini > bad.Qini+0.05 && good.AUUC > bad.AUUC+0.05 && good.QiniCausalML > bad.QiniCausalML && good.UpliftAtK > bad.UpliftAtK) {
		t.Errorf("true-effect ranking %+v not above random ranking %+v", good, bad)
	}
	if math.Abs(bad.Qini) > 0.05 {
		t.Errorf("random ranking qini = %v, want near 0", bad.Qini)
	}
	perfect, _ := metricPerfectScore(tr, y)
	p, err := UpliftScores(perfect, tr, y, nil, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if !metricsClose(p.Qini, 1) {
		t.Errorf("perfect ranking qini = %v, want 1", p.Qini)
	}
}

func TestMetricSortDesc(t *testing.T) {
	for _, n := range []int{1, 5, 3000, 70000} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		s := make([]float64, n)
		for i := range s {
			switch rng.IntN(5) {
			case 0:
				s[i] = float64(rng.IntN(5) - 2) // ties, including ±0
			case 1:
				s[i] = math.Copysign(0, -1)
			default:
				s[i] = rng.NormFloat64() * 1e3
			}
		}
		got := metricSortDesc(s)
		for i := 1; i < n; i++ {
			a, b := got[i-1], got[i]
			if s[a] < s[b] || (s[a] == s[b] && a < b) {
				t.Fatalf("n=%d: position %d: row %d (%v) before row %d (%v)", n, i, a, s[a], b, s[b])
			}
		}
	}
}

func TestUpliftScoresErrors(t *testing.T) {
	s, tr, y := []float64{1, 2, 3}, []int{0, 1, 1}, []float64{0, 1, 0}
	for _, c := range []struct {
		name  string
		s     []float64
		tr    []int
		y, w  []float64
		k     float64
		match string
	}{
		{"empty", nil, nil, nil, nil, 0.3, "no units"},
		{"score length", s[:2], tr, y, nil, 0.3, "2 scores but 3 outcomes"},
		{"treatment length", s, tr[:1], y, nil, 0.3, "1 treatments but 3 outcomes"},
		{"weight length", s, tr, y, []float64{1}, 0.3, "1 weights but 3 outcomes"},
		{"NaN score", []float64{1, math.NaN(), 3}, tr, y, nil, 0.3, "score 1 is NaN"},
		{"Inf outcome", s, tr, []float64{0, math.Inf(1), 0}, nil, 0.3, "outcome 1 is +Inf"},
		{"negative weight", s, tr, y, []float64{1, -1, 1}, 0.3, "weight 1 is -1"},
		{"arm", s, []int{0, 2, 1}, y, nil, 0.3, "treatment 1 is 2"},
		{"no control", s, []int{1, 1, 1}, y, nil, 0.3, "no control units"},
		{"no treated", s, []int{0, 1, 0}, y, []float64{1, 0, 1}, 0.3, "no treated units"},
		{"k", s, tr, y, nil, 1, "k in (0, 1)"},
	} {
		_, err := UpliftScores(c.s, c.tr, c.y, c.w, c.k)
		if !errors.Is(err, ErrInput) || !containsStr(err.Error(), c.match) {
			t.Errorf("%s: error %v, want ErrInput mentioning %q", c.name, err, c.match)
		}
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
