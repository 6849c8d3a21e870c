package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/redistest"
)

// compatWrite rewrites the compatibility fixture with the models this
// build trains. The committed fixture was written by an earlier release
// (see testdata/compat/SOURCE.md); rewrite it only to add a new one.
var compatWrite = flag.String("compat.write", "", "write the stored-model compatibility fixture to this file")

// compatFixture is a Redis keyspace left by a release after it trained
// every ranker, with the answers that release gave.
type compatFixture struct {
	// Release names the code that wrote the fixture.
	Release string `json:"release"`
	// Keys is the keyspace under the prefix, the prefix replaced by
	// compatPrefix in every key name.
	Keys []dumpedKey `json:"keys"`
	// Models maps each ranker to the id of its stored model.
	Models map[string]string `json:"models"`
	// Requests are asked of every model; Responses[ranker][i] is the
	// answer to Requests[i] with that ranker's model serving.
	Requests  []recommend.Request             `json:"requests"`
	Responses map[string][]recommend.Response `json:"responses"`
}

// compatPrefix stands for the key prefix in the key names of a fixture.
const compatPrefix = "${prefix}"

// dumpedKey is one Redis key with its value: a string, a hash, a set, a
// sorted set or a stream.
type dumpedKey struct {
	Key    string            `json:"key"`
	Type   string            `json:"type"`
	String string            `json:"string,omitempty"`
	Hash   map[string]string `json:"hash,omitempty"`
	// HashBase64 holds the hash fields whose values are not UTF-8 (the
	// binary text-score entries), base64-encoded.
	HashBase64 map[string][]byte  `json:"hash_base64,omitempty"`
	Set        []string           `json:"set,omitempty"`
	ZSet       map[string]float64 `json:"zset,omitempty"`
	Stream     []streamEntry      `json:"stream,omitempty"`
}

type streamEntry struct {
	ID     string         `json:"id"`
	Values map[string]any `json:"values"`
}

// dumpKeyspace reads every key under prefix, sorted by name.
func dumpKeyspace(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]dumpedKey, error) {
	names, err := redistest.Keys(ctx, rdb, prefix)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([]dumpedKey, 0, len(names))
	for _, k := range names {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		d := dumpedKey{Key: strings.ReplaceAll(k, prefix, compatPrefix), Type: typ}
		switch typ {
		case "string":
			d.String, err = rdb.Get(ctx, k).Result()
			if err == nil && !utf8.ValidString(d.String) {
				err = fmt.Errorf("key %s: a binary string cannot be dumped", k)
			}
		case "hash":
			var h map[string]string
			h, err = rdb.HGetAll(ctx, k).Result()
			for f, v := range h {
				if !utf8.ValidString(v) {
					if d.HashBase64 == nil {
						d.HashBase64 = map[string][]byte{}
					}
					d.HashBase64[f] = []byte(v)
					delete(h, f)
				}
			}
			d.Hash = h
		case "set":
			d.Set, err = rdb.SMembers(ctx, k).Result()
			slices.Sort(d.Set)
		case "zset":
			var zs []redis.Z
			zs, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			d.ZSet = make(map[string]float64, len(zs))
			for _, z := range zs {
				d.ZSet[z.Member.(string)] = z.Score
			}
		case "stream":
			var msgs []redis.XMessage
			msgs, err = rdb.XRange(ctx, k, "-", "+").Result()
			for _, m := range msgs {
				d.Stream = append(d.Stream, streamEntry{ID: m.ID, Values: m.Values})
			}
		default:
			err = fmt.Errorf("key %s: type %s cannot be dumped", k, typ)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// restoreKeyspace writes dumped keys under prefix.
func restoreKeyspace(ctx context.Context, rdb redis.UniversalClient, prefix string, keys []dumpedKey) error {
	pipe := rdb.Pipeline()
	for _, d := range keys {
		k := strings.ReplaceAll(d.Key, compatPrefix, prefix)
		switch d.Type {
		case "string":
			pipe.Set(ctx, k, d.String, 0)
		case "hash":
			fields := make(map[string]any, len(d.Hash)+len(d.HashBase64))
			for f, v := range d.Hash {
				fields[f] = v
			}
			for f, v := range d.HashBase64 {
				fields[f] = v
			}
			pipe.HSet(ctx, k, fields)
		case "set":
			pipe.SAdd(ctx, k, d.Set)
		case "zset":
			zs := make([]redis.Z, 0, len(d.ZSet))
			for m, s := range d.ZSet {
				zs = append(zs, redis.Z{Member: m, Score: s})
			}
			pipe.ZAdd(ctx, k, zs...)
		case "stream":
			for _, e := range d.Stream {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: k, ID: e.ID, Values: e.Values})
			}
		default:
			return fmt.Errorf("key %s: unknown type %s", d.Key, d.Type)
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}

// compatRankers are the rankers of the fixture, in training order.
var compatRankers = []map[string]string{
	{"ranker": "uplift", "estimator": "t"},
	{"ranker": "dlce"},
	{"ranker": "outcome"},
	{"ranker": "outcome-ips"},
	{"ranker": "popularity"},
}

// TestWriteCompatFixture writes the compatibility fixture with this
// build's models when -compat.write names a file.
func TestWriteCompatFixture(t *testing.T) {
	if *compatWrite == "" {
		t.Skip("writes the fixture only with -compat.write")
	}
	sim, err := pipelineScenario(30, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
	base := startServe(t, cfg)
	users, items, events := simIngest(sim)
	call(t, "POST", base+"/v1/users", "", map[string]any{"users": users}, nil)
	call(t, "POST", base+"/v1/items", "", map[string]any{"items": items}, nil)
	postEvents(t, base, "", events)
	fx := compatFixture{Release: os.Getenv("COMPAT_RELEASE"), Models: map[string]string{}, Responses: map[string][]recommend.Response{}}
	for _, u := range sim.Train.Users[:4] {
		fx.Requests = append(fx.Requests, recommend.Request{User: u, Candidates: sim.Train.Items, K: len(sim.Train.Items), IncludeConsumed: true})
	}
	fx.Requests = append(fx.Requests, recommend.Request{User: sim.Train.Users[5], K: 5})
	for _, tc := range compatRankers {
		var tr recommend.TrainResult
		if code, body := call(t, "POST", base+"/v1/train", "", tc, &tr); code != 200 {
			t.Fatalf("train %v: %d %s", tc, code, body)
		}
		fx.Models[tr.Ranker] = tr.ModelID.String()
		for _, req := range fx.Requests {
			var rec recommend.Response
			if code, body := call(t, "POST", base+"/v1/recommend", "", req, &rec); code != 200 || rec.Ranker != tr.Ranker {
				t.Fatalf("recommend with %s: %d %s", tr.Ranker, code, body)
			}
			fx.Responses[tr.Ranker] = append(fx.Responses[tr.Ranker], rec)
		}
	}
	rdb := redis.NewClient(mustParseRedis(t))
	defer rdb.Close()
	if fx.Keys, err = dumpKeyspace(context.Background(), rdb, cfg.Prefix); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(fx, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*compatWrite, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStoredModelsStillServe restores the keyspace an earlier release
// left after training every ranker (the outcome rankers included), moves
// its events into the sharded layout with causalrec migrate and checks that
// this build serves each stored model with that release's answers: the
// same items in the same order with the same scores.
func TestStoredModelsStillServe(t *testing.T) {
	files, err := filepath.Glob("testdata/compat/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no compatibility fixtures in testdata/compat (%v)", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var fx compatFixture
			if err := json.Unmarshal(b, &fx); err != nil {
				t.Fatal(err)
			}
			cfg := config.Default()
			cfg.RedisURL, cfg.Prefix = redisURL(), testPrefix(t)
			rdb := redis.NewClient(mustParseRedis(t))
			defer rdb.Close()
			ctx := context.Background()
			if err := restoreKeyspace(ctx, rdb, cfg.Prefix, fx.Keys); err != nil {
				t.Fatal(err)
			}
			// The earlier release kept its events unsharded: serve
			// refuses the store until causalrec migrate moved them.
			if code, out, stderr := runCLI(t, "", "migrate", "--redis", redisURL(), "--prefix", cfg.Prefix); code != 0 || !strings.Contains(out, "moved") {
				t.Fatalf("migrate the fixture's store: exit %d, out %q, stderr %q", code, out, stderr)
			}
			base := startServe(t, cfg)
			if len(fx.Models) != len(compatRankers) {
				t.Fatalf("fixture has models %v, want one per ranker of %v", fx.Models, compatRankers)
			}
			for ranker, id := range fx.Models {
				// Serve this model: the serving pointer as SetServing
				// leaves it.
				if err := rdb.HSet(ctx, cfg.Prefix+"serving:"+recommend.ModelName, "current", id).Err(); err != nil {
					t.Fatal(err)
				}
				for i, req := range fx.Requests {
					var got recommend.Response
					if code, body := call(t, "POST", base+"/v1/recommend", "", req, &got); code != 200 {
						t.Fatalf("%s: recommend %+v: %d %s", ranker, req, code, body)
					}
					want := fx.Responses[ranker][i]
					if err := sameAnswer(got, want); err != nil {
						t.Errorf("%s (model %s), request %d (user %s): %v", ranker, id, i, req.User, err)
					}
				}
			}
		})
	}
}

// sameAnswer compares what a response ranks: the ranker, the model, and
// the items with their scores and uplifts (within 1e-9).
func sameAnswer(got, want recommend.Response) error {
	if got.Ranker != want.Ranker || got.ModelID != want.ModelID || got.FallbackReason != "" {
		return fmt.Errorf("ranker %q model %s (fallback %q), want ranker %q model %s", got.Ranker, got.ModelID, got.FallbackReason, want.Ranker, want.ModelID)
	}
	if len(got.Items) != len(want.Items) {
		return fmt.Errorf("%d items, want %d", len(got.Items), len(want.Items))
	}
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }
	for j, g := range got.Items {
		w := want.Items[j]
		switch {
		case g.Item != w.Item:
			return fmt.Errorf("position %d: item %s, want %s", j+1, g.Item, w.Item)
		case !close(g.Score, w.Score):
			return fmt.Errorf("item %s: score %v, want %v", g.Item, g.Score, w.Score)
		case (g.Uplift == nil) != (w.Uplift == nil):
			return fmt.Errorf("item %s: uplift %v, want %v", g.Item, g.Uplift, w.Uplift)
		case g.Uplift != nil && !close(*g.Uplift, *w.Uplift):
			return fmt.Errorf("item %s: uplift %v, want %v", g.Item, *g.Uplift, *w.Uplift)
		}
	}
	return nil
}
