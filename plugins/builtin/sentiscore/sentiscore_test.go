package sentiscore

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/causalrec/causalrec/lm/sentiment"
	"github.com/causalrec/causalrec/plugins"
)

func score(tb testing.TB, p *Plugin, texts ...string) []plugins.TextScore {
	tb.Helper()
	req := plugins.ScoreRequest{Context: []string{"ignored"}}
	for i, t := range texts {
		req.Items = append(req.Items, plugins.TextItem{ID: fmt.Sprint(i), Text: t})
	}
	resp, err := p.Score(context.Background(), req)
	if err != nil {
		tb.Fatal(err)
	}
	if len(resp.Scores) != len(texts) {
		tb.Fatalf("%d scores for %d texts", len(resp.Scores), len(texts))
	}
	return resp.Scores
}

func TestInfo(t *testing.T) {
	info, err := New("0.1.0", 0).Info(context.Background(), plugins.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != Name || info.Version != "0.1.0+vader" || info.MaxTextBytes != DefaultMaxTextBytes ||
		strings.Join(info.Features, ",") != "sentiment,sentiment_pos,sentiment_neg,sentiment_neu" {
		t.Errorf("info = %+v", info)
	}
}

func TestScores(t *testing.T) {
	p := New("0.1.0", 0)
	a := sentiment.NewAnalyzer()
	for _, tc := range []struct {
		text string
		sign float64 // expected sign of the compound score
	}{
		{"This phone is great, I love it!", 1},
		{"Worst purchase ever. Terrible and broken.", -1},
		{"The package arrived on Tuesday.", 0},
		{"Not bad at all :)", 1},
		{"I don't like it.", -1},
	} {
		s := score(t, p, tc.text)[0]
		if s.Err != "" {
			t.Fatalf("%q: %s", tc.text, s.Err)
		}
		f := s.Features
		want := a.PolarityScores(tc.text)
		for k, w := range map[string]float64{FeatureCompound: want.Compound, FeaturePos: want.Pos, FeatureNeg: want.Neg, FeatureNeu: want.Neu} {
			if f[k] != w {
				t.Errorf("%q %s = %v, want the analyzer's %v", tc.text, k, f[k], w)
			}
		}
		if c := f[FeatureCompound]; (tc.sign > 0 && !(c > 0.05)) || (tc.sign < 0 && !(c < -0.05)) || (tc.sign == 0 && math.Abs(c) > 0.05) {
			t.Errorf("%q: compound %v, want sign %v", tc.text, c, tc.sign)
		}
		if sum := f[FeaturePos] + f[FeatureNeg] + f[FeatureNeu]; math.Abs(sum-1) > 1e-9 {
			t.Errorf("%q: shares sum to %v", tc.text, sum)
		}
	}
}

func TestPerItemErrors(t *testing.T) {
	p := New("1", 10)
	got := score(t, p, "good", "", "caf\xe9", "eleven byte", "ok!")
	for i, want := range []string{"", "empty text", "not valid UTF-8", "11 bytes, over the limit of 10", ""} {
		if want == "" {
			if got[i].Err != "" || len(got[i].Features) != 4 {
				t.Errorf("item %d: %+v, want features", i, got[i])
			}
			continue
		}
		if !strings.Contains(got[i].Err, want) || got[i].Features != nil || got[i].ID != fmt.Sprint(i) {
			t.Errorf("item %d: %+v, want an error containing %q", i, got[i], want)
		}
	}
}

func TestParallelMatchesSerial(t *testing.T) {
	p := New("1", 0)
	texts := make([]string, 1000)
	for i := range texts {
		texts[i] = fmt.Sprintf("Item %d is %s!", i, []string{"great", "awful", "fine", "not good"}[i%4])
	}
	texts[3] = ""
	batch := score(t, p, texts...)
	for i, text := range texts {
		one := score(t, p, text)[0]
		if one.Err != batch[i].Err || len(one.Features) != len(batch[i].Features) {
			t.Fatalf("text %d: batch %+v, alone %+v", i, batch[i], one)
		}
		for k, v := range one.Features {
			if batch[i].Features[k] != v {
				t.Fatalf("text %d %s: batch %v, alone %v", i, k, batch[i].Features[k], v)
			}
		}
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, n := range []int{1, 1000} {
		if _, err := New("1", 0).Score(ctx, plugins.ScoreRequest{Items: make([]plugins.TextItem, n)}); err == nil {
			t.Errorf("%d items: no error for a cancelled context", n)
		}
	}
}

func TestNewPanicsOnNegativeLimit(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	New("1", -1)
}

func FuzzScore(f *testing.F) {
	p := New("1", 0)
	f.Add("I LOVE it!!! :D")
	f.Add("")
	f.Add("\xff")
	f.Add("not the worst, but kind of bad 😠")
	f.Fuzz(func(t *testing.T, text string) {
		resp, err := p.Score(context.Background(), plugins.ScoreRequest{Items: []plugins.TextItem{{ID: "x", Text: text}}})
		if err != nil {
			t.Fatal(err)
		}
		s := resp.Scores[0]
		if s.Err != "" {
			if s.Features != nil {
				t.Fatalf("error %q with features", s.Err)
			}
			return
		}
		c := s.Features[FeatureCompound]
		if math.IsNaN(c) || c < -1 || c > 1 {
			t.Fatalf("compound %v for %q", c, text)
		}
		for _, k := range []string{FeaturePos, FeatureNeg, FeatureNeu} {
			if v := s.Features[k]; math.IsNaN(v) || v < 0 || v > 1+1e-9 {
				t.Fatalf("%s = %v for %q", k, v, text)
			}
		}
	})
}
