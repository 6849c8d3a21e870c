package recommend

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/store"
)

// ModelName is the name under which serving models are stored.
const ModelName = "default"

// servingModel is a stored model loaded for serving: its record, its
// feature set compiled to a plan, and the plugin that predicts with it.
type servingModel struct {
	id   uuid.UUID
	rec  store.ModelRecord
	meta ModelMeta
	// plan is meta.Features compiled.
	plan featurePlan
	// plugin is the estimator plugin that predicts with the model.
	plugin string
}

// serving returns the serving model with id, loading it when it changed.
func (r *Ranker) serving(ctx context.Context, id uuid.UUID) (*servingModel, int, error) {
	r.mu.Lock()
	c := r.cached
	r.mu.Unlock()
	if c != nil && c.id == id {
		return c, 0, nil
	}
	c, err := loadModel(ctx, r.store, id)
	if err != nil {
		return nil, 1, fmt.Errorf("load serving model %s: %w", id, err)
	}
	r.mu.Lock()
	r.cached = c
	r.mu.Unlock()
	return c, 1, nil
}

// loadModel reads the stored model with id and compiles its feature plan.
func loadModel(ctx context.Context, st *store.Store, id uuid.UUID) (*servingModel, error) {
	rec, err := st.LoadModel(ctx, id)
	if err != nil {
		return nil, err
	}
	meta, err := decodeModelMeta(rec.Metadata)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", id, err)
	}
	c := &servingModel{id: id, rec: rec, meta: meta, plan: meta.Features.plan(meta.Defaults)}
	c.plugin = rec.Plugin
	if c.plugin == "" && c.meta.Ranker != RankPopularity {
		// Up to 0.1.0 the host fitted the outcome rankers itself and
		// stored their models without a plugin; the built-in estimator
		// plugin serves them.
		c.plugin = legacyOutcomePlugin
	}
	return c, nil
}

// legacyOutcomePlugin serves the outcome rankers' models stored without a
// plugin: the built-in estimator plugin.
const legacyOutcomePlugin = DefaultEstimatorPlugin
