package store

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestScoreCodecRoundTrip(t *testing.T) {
	cases := []struct {
		name     string
		version  string
		hash     string
		features map[string]float64
	}{
		{"typical", "0.1.0+abc", TextHash("a good film"), map[string]float64{"sentiment": 0.75, "lm_logprob": -41.5, "lm_tokens": 7}},
		{"no features", "v", TextHash(""), nil},
		{"extreme values", "v", "h", map[string]float64{"max": math.MaxFloat64, "tiny": math.SmallestNonzeroFloat64, "neg zero": math.Copysign(0, -1)}},
		{"long and unicode names", strings.Repeat("v", 300), "h", map[string]float64{strings.Repeat("ü", 200): 1, "é": -2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := encodeScore(c.version, c.hash, c.features)
			if raw[0] != scoreFormatV1 {
				t.Fatalf("first byte %#x, want the format version %#x", raw[0], scoreFormatV1)
			}
			e, err := decodeScore(string(raw))
			if err != nil {
				t.Fatal(err)
			}
			if e.version != c.version || e.textHash != c.hash || len(e.features) != len(c.features) {
				t.Fatalf("decoded %q %q %v", e.version, e.textHash, e.features)
			}
			for k, v := range c.features {
				if got, ok := e.features[k]; !ok || math.Float64bits(got) != math.Float64bits(v) {
					t.Errorf("feature %q: %v, want %v", k, got, v)
				}
			}
			// The encoding is deterministic (features sorted by name).
			if again := encodeScore(c.version, c.hash, c.features); string(again) != string(raw) {
				t.Error("two encodings of the same entry differ")
			}
		})
	}
}

func TestScoreCodecLegacyJSON(t *testing.T) {
	raw, err := json.Marshal(map[string]any{"v": "v1", "h": TextHash("x"), "f": map[string]float64{"sentiment": -0.5}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeScore(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if e.version != "v1" || !e.matches("v1", "x") || e.features["sentiment"] != -0.5 {
		t.Fatalf("legacy entry decoded as %q %v", e.version, e.features)
	}
}

func TestScoreCodecRejectsBadEntries(t *testing.T) {
	good := string(encodeScore("v1", "hash", map[string]float64{"a": 1, "b": 2}))
	cases := []struct{ name, raw string }{
		{"empty", ""},
		{"unknown format", "\x02" + good[1:]},
		{"bad json", "{\"v\":"},
		{"only the format byte", good[:1]},
		{"cut in a value", good[:len(good)-3]},
		{"trailing bytes", good + "x"},
		{"string length past the end", "\x01\x7fv"},
		{"huge feature count", "\x01\x00\x00\xff\xff\xff\xff\x0f"},
		{"varint overflow", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if e, err := decodeScore(c.raw); err == nil {
				t.Fatalf("decoded %+v, want an error", e)
			}
		})
	}
}

func TestScoreEntryMatches(t *testing.T) {
	e, err := decodeScore(string(encodeScore("v1", TextHash("old text"), map[string]float64{"f": 1})))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		version, text string
		want          bool
	}{
		{"v1", "old text", true},
		{"v1", "old text", true}, // again, now from the remembered text
		{"v2", "old text", false},
		{"v1", "new text", false},
		{"v1", "old text", true}, // a mismatch does not spoil the memo
	}
	for i, c := range cases {
		if got := e.matches(c.version, c.text); got != c.want {
			t.Errorf("case %d: matches(%q, %q) = %v, want %v", i, c.version, c.text, got, c.want)
		}
	}
}

func TestScoreDecoderSharesAndBounds(t *testing.T) {
	var d scoreDecoder
	raw := string(encodeScore("v1", "h", map[string]float64{"f": 1}))
	a, err := d.decode("lm", "i1", raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.decode("lm", "i1", raw)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the same bytes of the same item were decoded twice")
	}
	// Rescored: other bytes replace the entry.
	other, err := d.decode("lm", "i1", string(encodeScore("v2", "h", map[string]float64{"f": 2})))
	if err != nil {
		t.Fatal(err)
	}
	if other == a || other.version != "v2" || other.features["f"] != 2 {
		t.Errorf("other bytes gave the cached entry: %q %v", other.version, other.features)
	}
	// The same item under another plugin is another entry.
	if c, err := d.decode("sentiment", "i1", raw); err != nil || c == a || c == other {
		t.Errorf("another plugin's entry: %p (%v), shares %p or %p", c, err, a, other)
	}
	if _, err := d.decode("lm", "i2", "\x09"); err == nil {
		t.Error("a bad entry decoded")
	}
	if d.n != 2 {
		t.Errorf("%d entries kept, want 2 (bad entries are not kept, a rescored one replaces its old one)", d.n)
	}
	for i := range maxDecodedScores + 1 {
		if _, err := d.decode("lm", strconv.Itoa(i), raw); err != nil {
			t.Fatal(err)
		}
	}
	if d.n > maxDecodedScores || len(d.byPlugin["lm"]) > maxDecodedScores {
		t.Errorf("%d entries kept, over the bound %d", d.n, maxDecodedScores)
	}
	// decodeAll shares the entries decode keeps, and leaves out missing and
	// bad values.
	all := d.decodeAll("lm", []string{"7", "x", "y", "z"}, []any{raw, nil, "\x09", string(encodeScore("v3", "h", nil))})
	if e7, _ := d.decode("lm", "7", raw); all["7"] != e7 || len(all) != 2 || all["z"] == nil || all["z"].version != "v3" {
		t.Errorf("decodeAll gave %v", all)
	}
	if again := d.decodeAll("lm", []string{"z"}, []any{string(encodeScore("v3", "h", nil))}); again["z"] != all["z"] {
		t.Error("decodeAll decoded unchanged bytes again")
	}
	var nilDecoder *scoreDecoder
	if e, err := nilDecoder.decode("lm", "i1", raw); err != nil || e.features["f"] != 1 {
		t.Errorf("a nil decoder: %v %v", e, err)
	}
}

// TestTextScoreCacheReadsLegacyEntries checks that entries in the JSON form
// of earlier releases are still hits, and that rescoring rewrites them in
// the binary form.
func TestTextScoreCacheReadsLegacyEntries(t *testing.T) {
	onEachRedis(t, testTextScoreCacheReadsLegacyEntries)
}

func testTextScoreCacheReadsLegacyEntries(t *testing.T, b backend) {
	s := b.store(t, Options{})
	ctx := context.Background()
	items := []Item{{ID: "a", Text: "good film"}, {ID: "b", Text: "bad film"}}
	if _, err := s.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	legacy, err := json.Marshal(map[string]any{"v": "v1", "h": TextHash("good film"), "f": map[string]float64{"sentiment": 0.8}})
	if err != nil {
		t.Fatal(err)
	}
	key := s.k.textScores("sentiment")
	if err := s.rdb.HSet(ctx, key, "a", legacy).Err(); err != nil {
		t.Fatal(err)
	}
	hits, misses, err := s.TextScores(ctx, "sentiment", "v1", items)
	if err != nil {
		t.Fatal(err)
	}
	if hits["a"]["sentiment"] != 0.8 || len(misses) != 1 || misses[0].ID != "b" {
		t.Fatalf("hits %v misses %v", hits, misses)
	}
	snap, err := s.ReadSnapshot(ctx, SnapshotRequest{User: "u", Candidates: []string{"a", "b"}, TextPlugins: []string{"sentiment"}})
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := snap.TextScoreHit("sentiment", "v1", snap.Candidates[0]); !ok || f["sentiment"] != 0.8 {
		t.Errorf("snapshot hit of the legacy entry: %v %v", f, ok)
	}
	if _, ok := snap.TextScoreHit("sentiment", "v1", snap.Candidates[1]); ok {
		t.Error("an item without an entry is a hit")
	}
	edited := Item{ID: "a", Text: "great film"}
	if _, ok := snap.TextScoreHit("sentiment", "v1", edited); ok {
		t.Error("the legacy entry is a hit for an edited text")
	}
	if err := s.PutTextScores(ctx, "sentiment", "v1", []TextScore{{ItemID: "a", TextHash: TextHash("good film"), Features: map[string]float64{"sentiment": 0.9}}}); err != nil {
		t.Fatal(err)
	}
	raw, err := s.rdb.HGet(ctx, key, "a").Result()
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] != scoreFormatV1 {
		t.Errorf("rewritten entry starts with %#x, want the binary form", raw[0])
	}
	if hits, _, _ := s.TextScores(ctx, "sentiment", "v1", items[:1]); hits["a"]["sentiment"] != 0.9 {
		t.Errorf("after rewriting: %v", hits)
	}
	// A corrupt entry fails TextScores and is a miss for a snapshot.
	if err := s.rdb.HSet(ctx, key, "b", "\x07junk").Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TextScores(ctx, "sentiment", "v1", items); err == nil {
		t.Error("a corrupt entry was read without error")
	}
	snap, err = s.ReadSnapshot(ctx, SnapshotRequest{User: "u", Candidates: []string{"b"}, TextPlugins: []string{"sentiment"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.TextScoreHit("sentiment", "v1", snap.Candidates[0]); ok {
		t.Error("a corrupt entry is a snapshot hit")
	}
}

// FuzzDecodeScore checks that decodeScore never panics and that what it
// accepts survives encodeScore and decodeScore again unchanged.
func FuzzDecodeScore(f *testing.F) {
	f.Add(string(encodeScore("v1", TextHash("a"), map[string]float64{"sentiment": 0.5, "lm_logprob": -3})))
	f.Add(string(encodeScore("", "", nil)))
	f.Add(`{"v":"v1","h":"x","f":{"a":1}}`)
	f.Add("\x01\x05ab")
	f.Fuzz(func(t *testing.T, raw string) {
		e, err := decodeScore(raw)
		if err != nil {
			return
		}
		again, err := decodeScore(string(encodeScore(e.version, e.textHash, e.features)))
		if err != nil {
			t.Fatalf("%q: re-encoded entry does not decode: %v", raw, err)
		}
		if again.version != e.version || again.textHash != e.textHash || len(again.features) != len(e.features) {
			t.Fatalf("%q: %+v became %+v", raw, e, again)
		}
		for k, v := range e.features {
			if w, ok := again.features[k]; !ok || math.Float64bits(w) != math.Float64bits(v) {
				t.Fatalf("%q: feature %q %v became %v", raw, k, v, w)
			}
		}
	})
}
