package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestModelSampleAndExplanation stores a model's sample and explanation on
// real Redis: they read back, a model without them is ErrNotFound, and
// both keys carry the model's hash tag under the prefix.
func TestModelSampleAndExplanation(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, DefaultOptions())
	id, other := uuid.New(), uuid.New()
	for _, tc := range []struct {
		name string
		put  func(context.Context, uuid.UUID, []byte) error
		get  func(context.Context, uuid.UUID) ([]byte, error)
		key  string
	}{
		{"sample", s.PutModelSample, s.ModelSample, s.k.modelSample(id.String())},
		{"explanation", s.PutExplanation, s.Explanation, s.k.modelExplain(id.String())},
	} {
		if _, err := tc.get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s before put: %v, want ErrNotFound", tc.name, err)
		}
		if err := tc.put(ctx, id, nil); err == nil {
			t.Errorf("%s: an empty value was stored", tc.name)
		}
		want := []byte(tc.name + "\x00\xff bytes")
		if err := tc.put(ctx, id, want); err != nil {
			t.Fatal(err)
		}
		got, err := tc.get(ctx, id)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, want)
		}
		if _, err := tc.get(ctx, other); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of another model: %v, want ErrNotFound", tc.name, err)
		}
		tag := "{" + s.k.p + "model:" + id.String() + "}"
		if !strings.HasPrefix(tc.key, s.k.p) || !strings.Contains(tc.key, tag) {
			t.Errorf("%s key %q: want the prefix and the hash tag %q", tc.name, tc.key, tag)
		}
	}
}
