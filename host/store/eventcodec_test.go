package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestDecodeEventMatchesJSON checks that decodeEvent gives what
// json.Unmarshal gives, on the fast path and on every fallback.
func TestDecodeEventMatchesJSON(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		fast bool // whether the fast path should take it
	}{
		{"exposure", `{"id":"e1","kind":"exposure","user":"u1","item":"i1","time":"2026-01-01T00:00:00Z","arm":"control","propensity":0.25,"position":3,"policy_id":"p"}`, true},
		{"outcome", `{"id":"e2","kind":"outcome","user":"u1","item":"i1","time":"2026-01-01T10:11:12.123456789+02:00","value":1}`, true},
		{"empty object", `{}`, true},
		{"time unknown", `{"user":"u","time":"2026-01-01T00:00:00Z","time_unknown":true}`, true},
		{"time known", `{"time_unknown":false,"user":"u"}`, true},
		{"time unknown not a bool", `{"time_unknown":1}`, false},
		{"time unknown cut", `{"time_unknown":tru}`, false},
		{"exponent and negative", `{"propensity":1e-3,"value":-2.5E+2}`, true},
		{"unicode", `{"user":"ünïcødé","item":"日本"}`, true},
		{"duplicate key, last wins", `{"user":"a","user":"b"}`, true},
		{"escaped string", `{"user":"a\"b","item":"c\u00e9"}`, false},
		{"spaces", `{ "user" : "a" }`, false},
		{"unknown key", `{"user":"a","extra":1}`, false},
		{"key in other case", `{"User":"a"}`, false},
		{"null", `{"user":null,"item":"i"}`, false},
		{"float position", `{"position":1.5}`, false},
		{"number as string", `{"propensity":"0.5"}`, false},
		{"leading zero", `{"position":01}`, false},
		{"bad time", `{"time":"yesterday"}`, false},
		{"time hour 24", `{"time":"2026-01-01T24:00:00Z"}`, false},
		{"trailing comma", `{"user":"a",}`, false},
		{"missing colon", `{"user" "a"}`, false},
		{"not an object", `["a"]`, false},
		{"truncated", `{"user":"a"`, false},
		{"huge number", `{"value":1e400}`, false},
		{"invalid utf-8", "{\"user\":\"a\xffb\"}", false},
		{"control character", "{\"user\":\"a\tb\"}", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want Event
			wantErr := json.Unmarshal([]byte(c.raw), &want)
			got, err := decodeEvent(c.raw)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, json.Unmarshal's %v", err, wantErr)
			}
			if err == nil && !eventsEqual(got, want) {
				t.Errorf("decoded %+v, json.Unmarshal gives %+v", got, want)
			}
			if _, ok := decodeEventFast(c.raw); ok != c.fast {
				t.Errorf("fast path taken %v, want %v", ok, c.fast)
			}
		})
	}
}

// FuzzDecodeEvent checks decodeEvent against json.Unmarshal on any input:
// both fail or both give the same event.
func FuzzDecodeEvent(f *testing.F) {
	for _, seed := range []string{
		`{"id":"e1","kind":"exposure","user":"u1","item":"i1","time":"2026-01-01T00:00:00Z","arm":"control","propensity":0.25,"position":3,"policy_id":"p"}`,
		`{"propensity":1e-3,"value":-2.5E+2}`,
		`{"position":01}`,
		`{"user":"a\"b"}`,
		`{}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var want Event
		wantErr := json.Unmarshal([]byte(raw), &want)
		got, err := decodeEvent(raw)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, json.Unmarshal's %v", raw, err, wantErr)
		}
		if err == nil && !eventsEqual(got, want) {
			t.Fatalf("%q: decoded %+v, json.Unmarshal gives %+v", raw, got, want)
		}
	})
}

// TestDecodeEventRandom round-trips random events through json.Marshal.
func TestDecodeEventRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2000 {
		e := Event{
			ID: fmt.Sprint("ev", rng.Uint64()), Kind: []EventKind{Exposure, Outcome}[rng.IntN(2)],
			User: fmt.Sprint("u", rng.IntN(1e6)), Item: fmt.Sprint("i", rng.IntN(1e4)),
			Time: t0.Add(time.Duration(rng.Int64N(1e18))).In(time.FixedZone("", 3600*(rng.IntN(25)-12))),
		}
		if rng.IntN(2) == 0 {
			e.Arm, e.Propensity, e.Position, e.PolicyID = "control", rng.Float64(), rng.IntN(100), "pol"
		}
		if rng.IntN(3) == 0 {
			e.Value = rng.NormFloat64() * 1e6
		}
		if rng.IntN(20) == 0 {
			e.User = "quote\"d"
		}
		e.TimeUnknown = rng.IntN(4) == 0
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var want Event
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		got, err := decodeEvent(string(raw))
		if err != nil || !eventsEqual(got, want) {
			t.Fatalf("event %d %s: decoded %+v (%v), want %+v", i, raw, got, err, want)
		}
	}
}

func eventsEqual(a, b Event) bool {
	if !a.Time.Equal(b.Time) || a.Time.Format(time.RFC3339Nano) != b.Time.Format(time.RFC3339Nano) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// TestEventsPages reads logs whose length is below, at and above multiples
// of the page size, and stops early at the callback's error.
func TestEventsPages(t *testing.T) { onEachRedis(t, testEventsPages) }

func testEventsPages(t *testing.T, b backend) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	errStop := errors.New("stop")
	cases := []struct {
		name             string
		events, page     int
		stopAt, wantSeen int
		wantErr          error
	}{
		{"empty log", 0, 3, -1, 0, nil},
		{"under one page", 2, 3, -1, 2, nil},
		{"exactly one page", 3, 3, -1, 3, nil},
		{"exact pages", 9, 3, -1, 9, nil},
		{"pages and a rest", 10, 3, -1, 10, nil},
		{"stop in the first page", 10, 3, 1, 2, errStop},
		{"stop in a later page", 10, 3, 7, 8, errStop},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := b.store(t, Options{BatchSize: c.page})
			evs := make([]Event, c.events)
			for i := range evs {
				evs[i] = Event{ID: fmt.Sprint("e", i), Kind: Exposure, User: "u", Item: fmt.Sprint("i", i), Time: t0.Add(time.Duration(i) * time.Second)}
			}
			if _, err := s.AddEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			var seen []string
			err := s.Events(ctx, func(e Event) error {
				seen = append(seen, e.ID)
				if len(seen)-1 == c.stopAt {
					return errStop
				}
				return nil
			})
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			if len(seen) != c.wantSeen {
				t.Fatalf("saw %d events, want %d", len(seen), c.wantSeen)
			}
			for i, id := range seen {
				if id != fmt.Sprint("e", i) {
					t.Fatalf("event %d is %s: not in ingestion order", i, id)
				}
			}
		})
	}
	// A cancelled context ends the walk with its error.
	s := b.store(t, Options{BatchSize: 2})
	if _, err := s.AddEvents(ctx, []Event{{Kind: Outcome, User: "u", Item: "i", Time: t0}}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Events(cctx, func(Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled walk: %v, want context.Canceled", err)
	}
}
