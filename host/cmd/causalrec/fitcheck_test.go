package main

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// TestUpliftFitWarnsConstant runs README's Hillstrom example (the bundled
// data split 70/30 with seed 1) with a DR-learner over boosted trees whose
// effect model stops early with no trees (seed 3): every customer gets the
// same uplift, and fit says so on standard error and in the model's
// metadata. The T-learner on the same rows learns, and gets no warning.
func TestUpliftFitWarnsConstant(t *testing.T) {
	dir := t.TempDir()
	train, test := filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	code, _, stderr := runCLI(t, "", "split", "--data", "../../../examples/hillstrom/hillstrom.csv.gz", "--test", "0.3", "--seed", "1",
		"--stratify", "segment", "--train-out", train, "--test-out", test)
	if code != 0 {
		t.Fatalf("split: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		constant bool
	}{
		{"dr/gbt seed 3", []string{"--estimator", "dr/gbt", "--param", "seed=3"}, true},
		{"t", []string{"--estimator", "t"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := filepath.Join(dir, "m.json")
			args := append([]string{"uplift", "fit", "--data", train, "--treatment", "segment", "--control", "No E-Mail",
				"--treated", "Womens E-Mail", "--outcome", "visit", "--design", "rct",
				"--features", "recency,history_segment,history,mens,womens,zip_code,newbie,channel", "--model-out", model}, tc.args...)
			code, _, stderr := runCLI(t, "", args...)
			if code != 0 {
				t.Fatalf("fit: exit %d: %s", code, stderr)
			}
			warned := strings.Contains(stderr, "warning: the model predicts one constant uplift")
			m, err := readModelFile(model)
			if err != nil {
				t.Fatal(err)
			}
			c, hasC := m.Metadata["constant_effect"]
			if warned != tc.constant || hasC != tc.constant || (m.Metadata["warning"] != "") != tc.constant {
				t.Fatalf("constant model %v: warned %v, metadata %v\n%s", tc.constant, warned, m.Metadata, stderr)
			}
			if !tc.constant {
				return
			}
			// The constant is an uplift of the visit rate, near the
			// trial's 0.045.
			if v, err := strconv.ParseFloat(c, 64); err != nil || v < 0.02 || v > 0.07 {
				t.Errorf("constant_effect %q", c)
			}
			pred := filepath.Join(dir, "pred.csv")
			if code, _, stderr := runCLI(t, "", "uplift", "predict", "--model", model, "--data", test, "--out", pred); code != 0 {
				t.Fatalf("predict: exit %d: %s", code, stderr)
			}
			rows := readCSVFile(t, pred)
			for _, r := range rows[1:] {
				if r[0] != rows[1][0] {
					t.Fatalf("the model flagged constant predicts %s and %s", rows[1][0], r[0])
				}
			}
		})
	}
}

// TestTrainWarnsConstant trains the service on a log where every exposed
// user engaged: no recommendation changed anything, the T-learner's two
// boosted outcome models are the same constant, and the training logs a
// warning and stores the constant in the model's fit metadata.
func TestTrainWarnsConstant(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	var logs lockedBuffer
	base, _ := startServeLogged(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	ingestUsers(t, base, "", 300)
	var events []store.Event
	for _, e := range simulatedEvents(300, 0) {
		if e.Kind != store.Exposure {
			continue
		}
		events = append(events, e, store.Event{ID: e.ID + ":o", Kind: store.Outcome, User: e.User, Item: e.Item, Time: e.Time.Add(time.Hour)})
	}
	postEvents(t, base, "", events)
	var res recommend.TrainResult
	if code, body := call(t, "POST", base+"/v1/train", "", map[string]string{"estimator": "t/gbt"}, &res); code != 200 {
		t.Fatalf("train: %d %s", code, body)
	}
	if got := res.Metadata["fit.constant_effect"]; got != "0" {
		t.Errorf("fit.constant_effect %q, want 0; metadata %v", got, res.Metadata)
	}
	if !strings.Contains(res.Metadata["fit.warning"], "one constant uplift") {
		t.Errorf("fit.warning %q", res.Metadata["fit.warning"])
	}
	if !strings.Contains(logs.String(), `level=WARN msg="model learned nothing"`) {
		t.Errorf("no warning in the log:\n%s", logs.String())
	}
	// The overlap of the arms is measured on the training sample too.
	if v, err := strconv.ParseFloat(res.Metadata["fit.overlap_clipped"], 64); err != nil || v < 0 || v > 1 || res.Metadata["fit.overlap_rows"] == "" {
		t.Errorf("fit.overlap_clipped %q, fit.overlap_rows %q", res.Metadata["fit.overlap_clipped"], res.Metadata["fit.overlap_rows"])
	}
}

// TestTrainWarnsWeakOverlap trains the service on a log whose policy
// recommended nearly always to users with x ≥ 7 and nearly never to users
// with x ≤ 2 (logged propensities 0.98 and 0.02): the fit report says so
// (fit.overlap_clipped near 0.6, fit.overlap_warning) and the training
// logs a warning.
func TestTrainWarnsWeakOverlap(t *testing.T) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	var logs lockedBuffer
	base, _ := startServeLogged(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	const n = 600
	var users []store.User
	for i := range n {
		users = append(users, store.User{ID: fmt.Sprintf("u%d", i), Features: map[string]float64{"x": float64(i % 10)}})
	}
	if code, body := call(t, "POST", base+"/v1/users", "", map[string]any{"users": users}, nil); code != 200 {
		t.Fatalf("users: %d %s", code, body)
	}
	items := []store.Item{{ID: "a", Text: "item a", Features: map[string]float64{"f": 1}}, {ID: "b", Text: "item b", Features: map[string]float64{"f": 0}}}
	if code, body := call(t, "POST", base+"/v1/items", "", map[string]any{"items": items}, nil); code != 200 {
		t.Fatalf("items: %d %s", code, body)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []store.Event
	for i := range n {
		x := i % 10
		e := 0.5
		switch {
		case x <= 2:
			e = 0.02
		case x >= 7:
			e = 0.98
		}
		for _, it := range []string{"a", "b"} {
			u := fmt.Sprintf("u%d", i)
			arm, p := recommend.ControlArm, 1-e
			if rng.Float64() < e {
				arm, p = "treated", e
			}
			events = append(events, store.Event{ID: u + ":" + it + ":x", Kind: store.Exposure, User: u, Item: it, Time: t0, Arm: arm, Propensity: p})
			if rng.Float64() < 0.2+0.1*float64(x)/10 {
				events = append(events, store.Event{ID: u + ":" + it + ":o", Kind: store.Outcome, User: u, Item: it, Time: t0.Add(time.Hour)})
			}
		}
	}
	postEvents(t, base, "", events)
	var res recommend.TrainResult
	if code, body := call(t, "POST", base+"/v1/train", "", map[string]string{"estimator": "t"}, &res); code != 200 {
		t.Fatalf("train: %d %s", code, body)
	}
	if res.Propensity != "logged" {
		t.Fatalf("propensity %q, want logged", res.Propensity)
	}
	if v, err := strconv.ParseFloat(res.Metadata["fit.overlap_clipped"], 64); err != nil || v < 0.5 || v > 0.7 {
		t.Errorf("fit.overlap_clipped %q, want about 0.6", res.Metadata["fit.overlap_clipped"])
	}
	if !strings.Contains(res.Metadata["fit.overlap_warning"], "a logged propensity") {
		t.Errorf("fit.overlap_warning %q", res.Metadata["fit.overlap_warning"])
	}
	if !strings.Contains(logs.String(), `level=WARN msg="weak overlap"`) {
		t.Errorf("no warning in the log:\n%s", logs.String())
	}
}
