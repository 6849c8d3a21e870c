package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/host/store"
)

// BenchmarkRecommend measures POST /v1/recommend with 200 candidates
// through the real API, store (REDIS_URL) and estimator plugin process.
func BenchmarkRecommend(b *testing.B) {
	cfg := config.Default()
	cfg.RedisURL, cfg.Prefix = redisURL(), testPrefixB(b)
	base, _ := startServeB(b, cfg)
	var items []store.Item
	var ids []string
	for i := 0; i < 300; i++ {
		id := fmt.Sprintf("i%d", i)
		ids = append(ids, id)
		items = append(items, store.Item{ID: id, Text: "some text", Category: fmt.Sprint(i % 7), Features: map[string]float64{"q": float64(i % 13), "r": float64(i % 5)}})
	}
	postB(b, base+"/v1/items", map[string]any{"items": items})
	var users []store.User
	for i := 0; i < 600; i++ {
		users = append(users, store.User{ID: fmt.Sprintf("u%d", i), Features: map[string]float64{"x": float64(i % 2), "y": float64(i % 3)}})
	}
	postB(b, base+"/v1/users", map[string]any{"users": users})
	postB(b, base+"/v1/events", map[string]any{"events": simulatedEvents(600, 0)})
	postB(b, base+"/v1/train", struct{}{})
	body, _ := json.Marshal(map[string]any{"user": "u3", "candidates": ids[:200], "k": 10})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Post(base+"/v1/recommend", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

func postB(b *testing.B, url string, in any) {
	b.Helper()
	buf, _ := json.Marshal(in)
	resp, err := http.Post(url, "application/json", bytes.NewReader(buf))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		b.Fatalf("%s: %s %s", url, resp.Status, msg)
	}
}
