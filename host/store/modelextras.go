package store

// What the store keeps of a model besides its hash (models.go): the
// sample of its training table and the cache of its explanation.

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// PutModelSample stores a sample of the training table of model id (its
// encoding is the caller's; recommend.TrainingSample), replacing any.
func (s *Store) PutModelSample(ctx context.Context, id uuid.UUID, sample []byte) error {
	if len(sample) == 0 {
		return fmt.Errorf("put model sample %s: empty", id)
	}
	return s.wrap("put model sample "+id.String(), s.rdb.Set(ctx, s.k.modelSample(id.String()), sample, 0).Err())
}

// ModelSample returns the stored training sample of model id, or an error
// wrapping ErrNotFound (models trained before samples were stored have
// none).
func (s *Store) ModelSample(ctx context.Context, id uuid.UUID) ([]byte, error) {
	return s.getBytes(ctx, "model sample "+id.String(), s.k.modelSample(id.String()))
}

// PutExplanation caches the explanation of model id.
func (s *Store) PutExplanation(ctx context.Context, id uuid.UUID, explanation []byte) error {
	if len(explanation) == 0 {
		return fmt.Errorf("put explanation %s: empty", id)
	}
	return s.wrap("put explanation "+id.String(), s.rdb.Set(ctx, s.k.modelExplain(id.String()), explanation, 0).Err())
}

// Explanation returns the cached explanation of model id, or an error
// wrapping ErrNotFound.
func (s *Store) Explanation(ctx context.Context, id uuid.UUID) ([]byte, error) {
	return s.getBytes(ctx, "explanation "+id.String(), s.k.modelExplain(id.String()))
}

func (s *Store) getBytes(ctx context.Context, what, key string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(what, err)
	}
	return b, nil
}
