package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// saveModelScript writes a model hash only if it does not exist yet.
// KEYS: model key. ARGV: meta JSON, bytes. Returns 1 if written, 0 if the
// ID was taken.
var saveModelScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'meta', ARGV[1], 'bytes', ARGV[2])
return 1
`)

// setServingScript points a name at a model, keeping the old pointer as the
// previous one. Setting the current model again changes nothing.
// KEYS: serving key. ARGV: new ID.
var setServingScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'current')
if cur == ARGV[1] then return 0 end
if cur then
  redis.call('HSET', KEYS[1], 'current', ARGV[1], 'previous', cur)
else
  redis.call('HSET', KEYS[1], 'current', ARGV[1])
end
return 1
`)

// rollbackScript swaps the current and previous pointers. Returns 0 if there
// is no previous model.
var rollbackScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'current')
local prev = redis.call('HGET', KEYS[1], 'previous')
if not prev or not cur then return 0 end
redis.call('HSET', KEYS[1], 'current', prev, 'previous', cur)
return 1
`)

// SaveModel stores a model and returns its ID. A zero ID is replaced by a
// new random UUID and a zero CreatedAt by the store's clock. Saved models are
// immutable: saving under an ID that exists is an error.
func (s *Store) SaveModel(ctx context.Context, m ModelRecord) (uuid.UUID, error) {
	if err := checkID("model name", m.Name); err != nil {
		return uuid.Nil, fmt.Errorf("save model: %w", err)
	}
	if m.ID == uuid.Nil {
		var err error
		if m.ID, err = uuid.NewRandom(); err != nil {
			return uuid.Nil, fmt.Errorf("save model: new id: %w", err)
		}
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.opts.Now().UTC()
	}
	body := m.Bytes
	m.Bytes = nil
	meta, err := json.Marshal(m)
	if err != nil {
		return uuid.Nil, fmt.Errorf("save model %s: encode: %w", m.ID, err)
	}
	id := m.ID.String()
	ok, err := saveModelScript.Run(ctx, s.rdb, []string{s.k.model(id)}, meta, body).Int()
	if err != nil {
		return uuid.Nil, s.wrap("save model "+id, err)
	}
	if ok == 0 {
		return uuid.Nil, fmt.Errorf("save model %s: a model with this id exists", id)
	}
	pipe := s.rdb.Pipeline()
	pipe.ZAdd(ctx, s.k.modelsByName(m.Name), redis.Z{Score: float64(m.CreatedAt.UnixMilli()), Member: id})
	pipe.SAdd(ctx, s.k.modelNames(), m.Name)
	if _, err := pipe.Exec(ctx); err != nil {
		return uuid.Nil, s.wrap("save model "+id+": index", err)
	}
	return m.ID, nil
}

// LoadModel returns a saved model with its bytes, or an error wrapping
// ErrNotFound.
func (s *Store) LoadModel(ctx context.Context, id uuid.UUID) (ModelRecord, error) {
	vals, err := s.rdb.HMGet(ctx, s.k.model(id.String()), "meta", "bytes").Result()
	if err != nil {
		return ModelRecord{}, s.wrap("load model "+id.String(), err)
	}
	meta, ok := vals[0].(string)
	if !ok {
		return ModelRecord{}, fmt.Errorf("load model %s: %w", id, ErrNotFound)
	}
	var m ModelRecord
	if err := json.Unmarshal([]byte(meta), &m); err != nil {
		return ModelRecord{}, fmt.Errorf("load model %s: decode: %w", id, err)
	}
	if b, ok := vals[1].(string); ok {
		m.Bytes = []byte(b)
	}
	return m, nil
}

// ListModels returns the saved models of a name, oldest first, without
// their bytes. An empty name lists the models of every name.
func (s *Store) ListModels(ctx context.Context, name string) ([]ModelRecord, error) {
	names := []string{name}
	if name == "" {
		var err error
		if names, err = s.rdb.SMembers(ctx, s.k.modelNames()).Result(); err != nil {
			return nil, s.wrap("list models", err)
		}
	}
	var out []ModelRecord
	for _, n := range names {
		ids, err := s.rdb.ZRange(ctx, s.k.modelsByName(n), 0, -1).Result()
		if err != nil {
			return nil, s.wrap("list models", err)
		}
		if len(ids) == 0 {
			continue
		}
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(ids))
		for i, id := range ids {
			cmds[i] = pipe.HGet(ctx, s.k.model(id), "meta")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.wrap("list models", err)
		}
		for i, c := range cmds {
			raw, err := c.Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return nil, s.wrap("list models", err)
			}
			var m ModelRecord
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				return nil, fmt.Errorf("list models: decode %s: %w", ids[i], err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// SetServing makes id the model served under name, atomically, and keeps
// the model served before as the previous one (see Rollback). The model
// must exist and have that name.
func (s *Store) SetServing(ctx context.Context, name string, id uuid.UUID) error {
	m, err := s.loadModelMeta(ctx, id)
	if err != nil {
		return fmt.Errorf("set serving %q: %w", name, err)
	}
	if m.Name != name {
		return fmt.Errorf("set serving %q: model %s is named %q", name, id, m.Name)
	}
	err = setServingScript.Run(ctx, s.rdb, []string{s.k.serving(name)}, id.String()).Err()
	return s.wrap(fmt.Sprintf("set serving %q", name), err)
}

// loadModelMeta is LoadModel without the bytes.
func (s *Store) loadModelMeta(ctx context.Context, id uuid.UUID) (ModelRecord, error) {
	raw, err := s.rdb.HGet(ctx, s.k.model(id.String()), "meta").Result()
	if errors.Is(err, redis.Nil) {
		return ModelRecord{}, fmt.Errorf("model %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return ModelRecord{}, s.wrap("load model "+id.String(), err)
	}
	var m ModelRecord
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return ModelRecord{}, fmt.Errorf("load model %s: decode: %w", id, err)
	}
	return m, nil
}

// Serving returns the model served under name and the one served before it
// (uuid.Nil if none). With no model served it returns an error wrapping
// ErrNotFound.
func (s *Store) Serving(ctx context.Context, name string) (current, previous uuid.UUID, err error) {
	vals, err := s.rdb.HMGet(ctx, s.k.serving(name), "current", "previous").Result()
	if err != nil {
		return uuid.Nil, uuid.Nil, s.wrap(fmt.Sprintf("serving %q", name), err)
	}
	cur, ok := vals[0].(string)
	if !ok {
		return uuid.Nil, uuid.Nil, fmt.Errorf("serving %q: no model is served: %w", name, ErrNotFound)
	}
	if current, err = uuid.Parse(cur); err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("serving %q: stored id %q: %w", name, cur, err)
	}
	if prev, ok := vals[1].(string); ok {
		if previous, err = uuid.Parse(prev); err != nil {
			return uuid.Nil, uuid.Nil, fmt.Errorf("serving %q: stored previous id %q: %w", name, prev, err)
		}
	}
	return current, previous, nil
}

// Rollback swaps the served model of name with the previous one,
// atomically; a second Rollback undoes the first. With no previous model it
// returns an error wrapping ErrNotFound.
func (s *Store) Rollback(ctx context.Context, name string) error {
	ok, err := rollbackScript.Run(ctx, s.rdb, []string{s.k.serving(name)}).Int()
	if err != nil {
		return s.wrap(fmt.Sprintf("rollback %q", name), err)
	}
	if ok == 0 {
		return fmt.Errorf("rollback %q: no previous model: %w", name, ErrNotFound)
	}
	return nil
}
