package lm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// ErrDiscount is returned (wrapped) when the modified Kneser–Ney discounts
// cannot be estimated from the counts and no fallback is configured. Check
// with errors.Is.
var ErrDiscount = errors.New("bad discounts")

// EstimateOptions configures Estimate.
type EstimateOptions struct {
	// Order is the n-gram order, from 2 to MaxOrder.
	Order int
	// DiscountFallback, if non-nil, gives the discounts D1, D2, D3+ used
	// for an order whose count-of-counts yield invalid discounts (as
	// lmplz --discount_fallback, whose values are DefaultFallback).
	// If nil, invalid discounts are an error wrapping ErrDiscount.
	DiscountFallback *Discount
}

// Discount holds the modified Kneser–Ney discounts of one order for
// adjusted counts 1, 2 and 3 or more.
type Discount [3]float64

// DefaultFallback is lmplz's --discount_fallback: D1=0.5, D2=1, D3+=1.5.
var DefaultFallback = Discount{0.5, 1, 1.5}

// Get returns the discount for adjusted count c > 0.
func (d *Discount) Get(c uint32) float64 {
	return d[min(c, 3)-1]
}

// Corpus accumulates training sentences as word ids.
type Corpus struct {
	vocab map[string]WordID
	words []string
	// sents holds each sentence as <s> w1 … wn </s>, concatenated.
	ids    []WordID
	starts []int
}

// NewCorpus returns an empty corpus whose vocabulary starts with <unk>,
// <s> and </s> (ids 0, 1, 2).
func NewCorpus() *Corpus {
	c := &Corpus{vocab: make(map[string]WordID)}
	for _, w := range []string{Unknown, SentenceBegin, SentenceEnd} {
		c.vocab[w] = WordID(len(c.words))
		c.words = append(c.words, w)
	}
	return c
}

// Add appends the sentence words. <s> and </s> must not occur in it.
func (c *Corpus) Add(words []string) error {
	c.starts = append(c.starts, len(c.ids))
	c.ids = append(c.ids, 1)
	for _, w := range words {
		id, ok := c.vocab[w]
		if !ok {
			id = WordID(len(c.words))
			c.vocab[w] = id
			c.words = append(c.words, w)
		}
		if id == 1 || id == 2 {
			c.ids = c.ids[:c.starts[len(c.starts)-1]]
			c.starts = c.starts[:len(c.starts)-1]
			return fmt.Errorf("word %q inside a sentence", w)
		}
		c.ids = append(c.ids, id)
	}
	c.ids = append(c.ids, 2)
	return nil
}

// ReadSentences adds one sentence per line of r, split into words by
// tokenize, or at white space if tokenize is nil (KenLM's convention). It
// returns the number of bytes read. Errors name the line.
func (c *Corpus) ReadSentences(r io.Reader, tokenize func(string) []string) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<26)
	var n int64
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		n += int64(len(s)) + 1
		var words []string
		if tokenize != nil {
			words = tokenize(s)
		} else {
			words = strings.Fields(s)
		}
		if err := c.Add(words); err != nil {
			return n, fmt.Errorf("line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("line %d: %w", line+1, err)
	}
	return n, nil
}

// Sentences returns the number of sentences in c.
func (c *Corpus) Sentences() int { return len(c.starts) }

// Tokens returns the number of words in c, without <s> and </s>.
func (c *Corpus) Tokens() int { return len(c.ids) - 2*len(c.starts) }

// gram is an n-gram of up to MaxOrder words and its (adjusted) count.
type gram struct {
	w [MaxOrder]WordID
	c uint32
}

func cmpGram(a, b gram) int {
	for i := range a.w {
		if a.w[i] != b.w[i] {
			if a.w[i] < b.w[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Estimate returns the interpolated modified Kneser–Ney model of c,
// following the conventions of KenLM's lmplz:
//
// Counts. The highest order N uses raw counts. An n-gram of a lower order
// uses its adjusted count a, the number of distinct words that precede it in
// the (n+1)-grams, except that n-grams starting with <s> keep raw counts.
//
// Discounts. For each order with count-of-counts t1…t4 of the adjusted
// counts (Chen & Goodman),
//
//	Y = t1/(t1+2 t2),  D_k = k − (k+1) Y t_{k+1}/t_k,  k = 1, 2, 3 (D3 is D3+).
//
// Interpolation. For an n-gram h w,
//
//	p(w|h) = (a(hw) − D(a(hw))) / Σ_x a(hx) + γ(h) p(w|h'),
//	γ(h)   = (D1 N1(h·) + D2 N2(h·) + D3+ N3+(h·)) / Σ_x a(hx),
//
// where h' drops the oldest word of h, N_k(h·) counts the words following h
// with adjusted count k (3 or more for N3+), and 1-grams interpolate with
// the uniform distribution 1/|V| over the vocabulary without <s>. <unk>
// therefore gets γ(ε)/|V| when unseen.
//
// Output. log10 p(w|h) for every n-gram and log10 γ(h) as the backoff of h
// (0 when h has no extensions); <s> gets probability 0 (log10) as lmplz
// writes it.
func Estimate(c *Corpus, opts EstimateOptions) (*ARPA, error) {
	N := opts.Order
	if N < 2 || N > MaxOrder {
		return nil, fmt.Errorf("order %d not in [2, %d]", N, MaxOrder)
	}
	if c.Sentences() == 0 {
		return nil, errors.New("estimate: empty corpus")
	}
	// Raw counts: orders[k] for k = N, and the <s>-initial n-grams of
	// lower orders.
	levels := make([][]gram, N+1)
	for s, start := range c.starts {
		end := len(c.ids)
		if s+1 < len(c.starts) {
			end = c.starts[s+1]
		}
		sent := c.ids[start:end]
		for i := 1; i < len(sent); i++ {
			from := max(0, i-N+1)
			var g gram
			copy(g.w[:], sent[from:i+1])
			g.c = 1
			k := i - from + 1
			levels[k] = append(levels[k], g)
		}
	}
	for k := N; k >= 1; k-- {
		if k < N {
			// Left-extension counts of the suffixes of the (k+1)-grams.
			for _, g := range levels[k+1] {
				var s gram
				copy(s.w[:k], g.w[1:k+1])
				s.c = 1
				levels[k] = append(levels[k], s)
			}
		}
		levels[k] = mergeCounts(levels[k])
	}
	// The <s>-initial lower-order n-grams were appended as occurrences
	// (count 1 each) and the suffixes as one per distinct extension, so
	// mergeCounts gives raw counts for the former and adjusted counts
	// for the latter: the two sets never share an n-gram.

	nvocab := len(c.words)
	// Ensure every word has a 1-gram (only <unk> and <s> can be missing).
	seen := make([]bool, nvocab)
	for _, g := range levels[1] {
		seen[g.w[0]] = true
	}
	bos := WordID(1)
	for id := range seen {
		if !seen[id] && WordID(id) != bos {
			levels[1] = append(levels[1], gram{w: [MaxOrder]WordID{WordID(id)}})
		}
	}
	// <s> gets its 1-gram entry (count 0) for its backoff.
	if !seen[bos] {
		levels[1] = append(levels[1], gram{w: [MaxOrder]WordID{bos}})
	}
	slices.SortFunc(levels[1], cmpGram)

	discounts := make([]Discount, N+1)
	for k := 1; k <= N; k++ {
		var t [4]float64
		for _, g := range levels[k] {
			if g.c >= 1 && g.c <= 4 {
				t[g.c-1]++
			}
		}
		d, ok := modifiedKNDiscount(t)
		if !ok {
			if opts.DiscountFallback == nil {
				return nil, fmt.Errorf("%w: order %d count-of-counts %v give discounts %v; set a discount fallback (lmplz --discount_fallback)",
					ErrDiscount, k, t, d)
			}
			d = *opts.DiscountFallback
		}
		discounts[k] = d
	}

	a := &ARPA{Vocab: append([]string(nil), c.words...), Orders: make([]Table, N), Discounts: discounts[1:]}
	probs := make([][]float64, N+1) // natural probabilities
	backoffs := make([][]float64, N+1)
	// 1-grams.
	{
		gs := levels[1]
		var total float64
		var nk [3]float64
		for _, g := range gs {
			if g.w[0] == bos || g.c == 0 {
				continue
			}
			total += float64(g.c)
			nk[min(g.c, 3)-1]++
		}
		d := &discounts[1]
		gamma := (d[0]*nk[0] + d[1]*nk[1] + d[2]*nk[2]) / total
		uniform := 1 / float64(nvocab-1) // without <s>
		probs[1] = make([]float64, len(gs))
		for i, g := range gs {
			switch {
			case g.w[0] == bos:
				probs[1][i] = 1 // log10 0, as lmplz writes
			case g.c == 0:
				probs[1][i] = gamma * uniform
			default:
				probs[1][i] = (float64(g.c)-d.Get(g.c))/total + gamma*uniform
			}
		}
	}
	for k := 2; k <= N; k++ {
		gs := levels[k]
		lower := levels[k-1]
		probs[k] = make([]float64, len(gs))
		backoffs[k-1] = make([]float64, len(lower))
		for i := range backoffs[k-1] {
			backoffs[k-1][i] = 1
		}
		d := &discounts[k]
		for lo := 0; lo < len(gs); {
			hi := lo + 1
			for hi < len(gs) && slices.Equal(gs[hi].w[:k-1], gs[lo].w[:k-1]) {
				hi++
			}
			var total float64
			var nk [3]float64
			for _, g := range gs[lo:hi] {
				total += float64(g.c)
				nk[min(g.c, 3)-1]++
			}
			gamma := (d[0]*nk[0] + d[1]*nk[1] + d[2]*nk[2]) / total
			var ctx gram
			copy(ctx.w[:k-1], gs[lo].w[:k-1])
			ci, ok := slices.BinarySearchFunc(lower, ctx, cmpGram)
			if !ok {
				panic("lm: context of an n-gram is missing")
			}
			backoffs[k-1][ci] = gamma
			for i := lo; i < hi; i++ {
				g := gs[i]
				var suf gram
				copy(suf.w[:k-1], g.w[1:k])
				si, ok := slices.BinarySearchFunc(lower, suf, cmpGram)
				if !ok {
					panic("lm: suffix of an n-gram is missing")
				}
				probs[k][i] = (float64(g.c)-d.Get(g.c))/total + gamma*probs[k-1][si]
			}
			lo = hi
		}
	}
	for k := 1; k <= N; k++ {
		gs := levels[k]
		t := &a.Orders[k-1]
		t.Words = make([]WordID, 0, k*len(gs))
		t.Prob = make([]float64, len(gs))
		for i, g := range gs {
			t.Words = append(t.Words, g.w[:k]...)
			t.Prob[i] = math.Log10(probs[k][i])
		}
		if k < N {
			t.Backoff = make([]float64, len(gs))
			for i, b := range backoffs[k] {
				t.Backoff[i] = math.Log10(b)
			}
		}
	}
	return a, nil
}

// mergeCounts sorts gs and merges equal n-grams, summing their counts.
func mergeCounts(gs []gram) []gram {
	slices.SortFunc(gs, cmpGram)
	out := gs[:0]
	for _, g := range gs {
		if n := len(out); n > 0 && out[n-1].w == g.w {
			out[n-1].c += g.c
			continue
		}
		out = append(out, g)
	}
	return slices.Clip(out)
}

// modifiedKNDiscount computes D1, D2, D3+ from the count-of-counts t1…t4
// and reports whether they are valid (each t_k > 0 and 0 ≤ D_k ≤ k).
func modifiedKNDiscount(t [4]float64) (Discount, bool) {
	var d Discount
	for _, v := range t {
		if v == 0 {
			return d, false
		}
	}
	y := t[0] / (t[0] + 2*t[1])
	ok := true
	for k := 1; k <= 3; k++ {
		d[k-1] = float64(k) - float64(k+1)*y*t[k]/t[k-1]
		if !(d[k-1] >= 0 && d[k-1] <= float64(k)) {
			ok = false
		}
	}
	return d, ok
}
