package lm

import (
	"fmt"
	"math"
	"math/bits"
)

// WordID identifies a word of a model's vocabulary.
type WordID uint32

// Model is a compact, read-only backoff n-gram language model. Word ids map
// to 1-gram entries in plain arrays; the n-grams of each higher order live in
// an open-addressing hash table keyed by a 64-bit hash of their word ids,
// with float32 log10 probabilities and backoffs (the highest order stores no
// backoff). As in KenLM's probing structure, hash collisions between
// distinct n-grams are not detected; with 64-bit keys they are vanishingly
// rare.
//
// A Model is safe for concurrent use. Queries do not allocate.
type Model struct {
	order int
	vocab map[string]WordID
	words []string

	unk, bos, eos WordID

	uniProb    []float32
	uniBackoff []float32
	// tables[k-2] holds the n-grams of order k >= 2.
	tables []hashTable
}

// State is the context a Model scores the next word in: the most recent
// words that can still extend an n-gram, with their backoff weights. The
// zero State is the empty (null) context.
type State struct {
	// words[i] is the (i+1)-th most recent word.
	words [MaxOrder - 1]WordID
	// backoff[i] is the log10 backoff of the context words[i..0].
	backoff [MaxOrder - 1]float32
	length  uint8
}

// Len returns the number of context words the state holds.
func (s *State) Len() int { return int(s.length) }

// Order returns the highest n-gram order of m.
func (m *Model) Order() int { return m.order }

// VocabSize returns the number of words in m, including <s>, </s> and <unk>.
func (m *Model) VocabSize() int { return len(m.words) }

// Word returns the word with id w.
func (m *Model) Word(w WordID) string { return m.words[w] }

// Index returns the id of word, or the id of <unk> if word is not in the
// vocabulary.
func (m *Model) Index(word string) WordID {
	if id, ok := m.vocab[word]; ok {
		return id
	}
	return m.unk
}

// Lookup returns the id of word and whether it is in the vocabulary.
func (m *Model) Lookup(word string) (WordID, bool) {
	id, ok := m.vocab[word]
	return id, ok
}

// UnknownID, BeginID and EndID return the ids of <unk>, <s> and </s>.
func (m *Model) UnknownID() WordID { return m.unk }

// BeginID returns the id of <s>.
func (m *Model) BeginID() WordID { return m.bos }

// EndID returns the id of </s>.
func (m *Model) EndID() WordID { return m.eos }

// NGramCounts returns the number of stored n-grams of each order, 1-grams
// first. Entries added to make the tables prefix- and suffix-closed are
// included.
func (m *Model) NGramCounts() []int {
	c := []int{len(m.uniProb)}
	for i := range m.tables {
		c = append(c, m.tables[i].n)
	}
	return c
}

// SizeBytes returns the memory the n-gram tables occupy.
func (m *Model) SizeBytes() int {
	b := 8 * len(m.uniProb)
	for i := range m.tables {
		b += 4 * len(m.tables[i].data)
	}
	return b
}

// BeginSentence returns the state after <s>.
func (m *Model) BeginSentence() State {
	var s State
	if m.order > 1 {
		s.words[0] = m.bos
		s.backoff[0] = m.uniBackoff[m.bos]
		s.length = 1
	}
	return s
}

// Score returns the log10 probability of word w after the context in and
// the length of the n-gram that matched; it writes the context for the next
// word to out. in and out may point to the same State.
//
// With the context h = w_1 … w_{n-1} (most recent last),
//
//	log10 p(w | h) = prob(w_j … w_{n-1} w) + Σ_{i<j} backoff(w_i … w_{n-1}),
//
// where w_j … w_{n-1} w is the longest n-gram in the model and the backoff
// of a context that is not in the model is 0.
func (m *Model) Score(in *State, w WordID, out *State) (log10p float32, ngramLen int) {
	ctx := *in
	prob := m.uniProb[w]
	out.words[0] = w
	out.backoff[0] = m.uniBackoff[w]
	matched := 1
	key := hashWord(w)
	n := int(ctx.length)
	maxCtx := m.order - 1
	for i := 0; i < n; i++ {
		key = hashExtend(key, ctx.words[i])
		t := &m.tables[i]
		slot, ok := t.find(key)
		if !ok {
			break
		}
		prob = t.prob(slot)
		matched = i + 2
		if i+1 < maxCtx {
			out.words[i+1] = ctx.words[i]
			out.backoff[i+1] = t.backoff(slot)
		}
	}
	for j := matched - 1; j < n; j++ {
		prob += ctx.backoff[j]
	}
	out.length = uint8(min(matched, maxCtx))
	return prob, matched
}

// ScoreSentence returns the log10 probability of the sentence words, scored
// from <s> with </s> at the end, and the number of words not in the
// vocabulary (scored as <unk>).
func (m *Model) ScoreSentence(words []string) (log10p float64, oov int) {
	s := m.BeginSentence()
	for _, w := range words {
		id, ok := m.vocab[w]
		if !ok {
			id = m.unk
			oov++
		}
		p, _ := m.Score(&s, id, &s)
		log10p += float64(p)
	}
	p, _ := m.Score(&s, m.eos, &s)
	return log10p + float64(p), oov
}

// NewModel builds the compact Model of a. It adds <unk> with log10
// probability -100 when a lacks it (as KenLM does), and <s> and </s> with
// log10 probability -99 when they are missing. N-grams whose prefix or
// suffix n-grams are missing get "blank" entries whose probability is the
// backed-off one and whose backoff is 0, so that every query matches the
// longest n-gram of a.
func NewModel(a *ARPA) (*Model, error) {
	order := a.Order()
	if order < 1 || order > MaxOrder {
		return nil, fmt.Errorf("%w: order %d not in [1, %d]", ErrFormat, order, MaxOrder)
	}
	m := &Model{
		order: order,
		vocab: make(map[string]WordID, len(a.Vocab)+3),
		words: append([]string(nil), a.Vocab...),
	}
	u := &a.Orders[0]
	if u.Len() != len(a.Vocab) || len(u.Words) != len(a.Vocab) {
		return nil, fmt.Errorf("%w: %d 1-grams for %d words", ErrFormat, u.Len(), len(a.Vocab))
	}
	m.uniProb = make([]float32, len(a.Vocab), len(a.Vocab)+3)
	m.uniBackoff = make([]float32, len(a.Vocab), len(a.Vocab)+3)
	for i, id := range u.Words {
		if int(id) >= len(a.Vocab) {
			return nil, fmt.Errorf("%w: 1-gram %d has word id %d", ErrFormat, i, id)
		}
		if _, dup := m.vocab[a.Vocab[id]]; dup {
			return nil, fmt.Errorf("%w: duplicate 1-gram %q", ErrFormat, a.Vocab[id])
		}
		m.vocab[a.Vocab[id]] = id
		m.uniProb[id] = float32(u.Prob[i])
		if u.Backoff != nil {
			m.uniBackoff[id] = float32(u.Backoff[i])
		}
	}
	special := func(w string, prob float32) WordID {
		if id, ok := m.vocab[w]; ok {
			return id
		}
		id := WordID(len(m.words))
		m.words = append(m.words, w)
		m.vocab[w] = id
		m.uniProb = append(m.uniProb, prob)
		m.uniBackoff = append(m.uniBackoff, 0)
		return id
	}
	m.unk = special(Unknown, -100)
	m.bos = special(SentenceBegin, -99)
	m.eos = special(SentenceEnd, -99)

	// Collect the keys of every order, then close them under prefixes and
	// suffixes, highest order first.
	type entry struct {
		prob, backoff float64
		blank         bool
		ctx           []WordID // words of a blank entry
	}
	sets := make([]map[uint64]int, order+1) // sets[k]: key -> index into ents[k]
	ents := make([][]entry, order+1)
	for k := 2; k <= order; k++ {
		t := &a.Orders[k-1]
		if len(t.Words) != k*t.Len() {
			return nil, fmt.Errorf("%w: %d-gram words and probabilities differ in length", ErrFormat, k)
		}
		sets[k] = make(map[uint64]int, t.Len())
		ents[k] = make([]entry, 0, t.Len())
		for i := 0; i < t.Len(); i++ {
			ws := t.Words[i*k : (i+1)*k]
			for _, id := range ws {
				if int(id) >= len(a.Vocab) {
					return nil, fmt.Errorf("%w: %d-gram %d has word id %d", ErrFormat, k, i, id)
				}
			}
			key := keyOf(ws)
			if _, dup := sets[k][key]; dup {
				return nil, fmt.Errorf("%w: duplicate %d-gram %q", ErrFormat, k, m.join(ws))
			}
			sets[k][key] = len(ents[k])
			e := entry{prob: t.Prob[i]}
			if t.Backoff != nil {
				e.backoff = t.Backoff[i]
			}
			ents[k] = append(ents[k], e)
		}
	}
	// ngramOf recovers the words of entry i of order k.
	ngramOf := func(k, i int) []WordID {
		if i < a.Orders[k-1].Len() {
			return a.Orders[k-1].Words[i*k : (i+1)*k]
		}
		return ents[k][i].ctx
	}
	for k := order; k > 2; k-- {
		for i := 0; i < len(ents[k]); i++ {
			ws := ngramOf(k, i)
			for _, sub := range [2][]WordID{ws[:k-1], ws[1:]} {
				key := keyOf(sub)
				if _, ok := sets[k-1][key]; ok {
					continue
				}
				sets[k-1][key] = len(ents[k-1])
				ents[k-1] = append(ents[k-1], entry{blank: true, ctx: append([]WordID(nil), sub...)})
			}
		}
	}
	// backedOff computes log10 p(w | ctx) from the non-blank entries.
	var backedOff func(ws []WordID) float64
	backedOff = func(ws []WordID) float64 {
		k := len(ws)
		if k == 1 {
			return float64(m.uniProb[ws[0]])
		}
		if i, ok := sets[k][keyOf(ws)]; ok && !ents[k][i].blank {
			return ents[k][i].prob
		}
		bo := 0.0
		ctx := ws[:k-1]
		if k-1 == 1 {
			bo = float64(m.uniBackoff[ctx[0]])
		} else if i, ok := sets[k-1][keyOf(ctx)]; ok {
			bo = ents[k-1][i].backoff
		}
		return bo + backedOff(ws[1:])
	}
	m.tables = make([]hashTable, order-1)
	for k := 2; k <= order; k++ {
		t := newHashTable(len(ents[k]), k < order)
		for key, i := range sets[k] {
			e := &ents[k][i]
			if e.blank {
				e.prob = backedOff(e.ctx)
			}
			t.insert(key, float32(e.prob), float32(e.backoff))
		}
		m.tables[k-2] = t
	}
	return m, nil
}

func (m *Model) join(ws []WordID) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += " "
		}
		s += m.words[w]
	}
	return s
}

// hashWord and hashExtend build the key of an n-gram from its last word
// backwards, so that Score extends the match one context word at a time.
func hashWord(w WordID) uint64 {
	return mix(uint64(w) + 0x9e3779b97f4a7c15)
}

func hashExtend(key uint64, w WordID) uint64 {
	return mix(key ^ (uint64(w)+1)*0xbf58476d1ce4e5b9)
}

// mix is the finaliser of SplitMix64.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// keyOf returns the hash key of the n-gram ws (oldest word first).
func keyOf(ws []WordID) uint64 {
	key := hashWord(ws[len(ws)-1])
	for i := len(ws) - 2; i >= 0; i-- {
		key = hashExtend(key, ws[i])
	}
	return key
}

// hashTable is an open-addressing table with linear probing. Each slot is
// stride uint32 words: the 64-bit key (0 marks an empty slot), the float32
// log10 probability and, if stride is 4, the float32 log10 backoff.
type hashTable struct {
	data   []uint32
	slots  uint64
	stride int
	n      int
}

// loadFactor inverse: slots = buckets × n, as KenLM's probing multiplier.
const buckets = 1.5

func newHashTable(n int, withBackoff bool) hashTable {
	stride := 3
	if withBackoff {
		stride = 4
	}
	slots := uint64(float64(n)*buckets) + 1
	return hashTable{data: make([]uint32, int(slots)*stride), slots: slots, stride: stride}
}

func fixKey(key uint64) uint64 {
	if key == 0 {
		return 1
	}
	return key
}

func (t *hashTable) home(key uint64) uint64 {
	hi, _ := bits.Mul64(key, t.slots)
	return hi
}

func (t *hashTable) insert(key uint64, prob, backoff float32) {
	key = fixKey(key)
	i := t.home(key)
	for {
		o := int(i) * t.stride
		if t.data[o] == 0 && t.data[o+1] == 0 {
			t.data[o] = uint32(key)
			t.data[o+1] = uint32(key >> 32)
			t.data[o+2] = math.Float32bits(prob)
			if t.stride == 4 {
				t.data[o+3] = math.Float32bits(backoff)
			}
			t.n++
			return
		}
		i++
		if i == t.slots {
			i = 0
		}
	}
}

// find returns the data offset of key's slot.
func (t *hashTable) find(key uint64) (int, bool) {
	if t.slots == 0 {
		return 0, false
	}
	key = fixKey(key)
	lo, hi := uint32(key), uint32(key>>32)
	i := t.home(key)
	for {
		o := int(i) * t.stride
		s := t.data[o : o+2 : o+2]
		if s[0] == lo && s[1] == hi {
			return o, true
		}
		if s[0] == 0 && s[1] == 0 {
			return 0, false
		}
		i++
		if i == t.slots {
			i = 0
		}
	}
}

func (t *hashTable) prob(o int) float32 { return math.Float32frombits(t.data[o+2]) }

func (t *hashTable) backoff(o int) float32 {
	if t.stride < 4 {
		return 0
	}
	return math.Float32frombits(t.data[o+3])
}
