package main

// The explainer of GET /v1/models/{id}/explain: uplift explain's report
// of a stored model on the training sample stored with it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/api"
	"github.com/causalrec/causalrec/host/pluginhost"
	"github.com/causalrec/causalrec/host/recommend"
	"github.com/causalrec/causalrec/host/store"
)

// serveExplainSettings are the service's explanation settings: uplift
// explain's defaults, with Predict calls of at most 512 rows, the size of
// a served request's, so that they meet the plugin's predict deadline.
var serveExplainSettings = explainSettings{top: 20, minSupport: 10, seed: 1, chunk: 512}

// serveExplainer returns the explainer of a service's store and plugins.
func serveExplainer(st *store.Store, m *pluginhost.Manager) api.Explainer {
	return func(ctx context.Context, id uuid.UUID) (json.RawMessage, error) {
		rec, err := st.LoadModel(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec.Plugin == "" {
			return nil, fmt.Errorf("%w: model %s (%s) has no estimator to explain", recommend.ErrNoData, id, rec.Estimator)
		}
		b, err := st.ModelSample(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: model %s has no stored training sample (it was trained before models kept one); train again", recommend.ErrNoData, id)
		}
		if err != nil {
			return nil, err
		}
		sample, err := recommend.DecodeTrainingSample(b)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", id, err)
		}
		est, err := m.Estimator(rec.Plugin)
		if err != nil {
			return nil, err
		}
		n, p := sample.Rows(), len(sample.Features)
		if n < 3 {
			return nil, fmt.Errorf("%w: model %s: a training sample of %d rows", recommend.ErrNoData, id, n)
		}
		d := causal.ExplainData{X: mat.NewDense(n, p, sample.X), T: sample.Arm, Y: sample.Outcome}
		if sample.Propensity != nil {
			d.Propensity = make([]float64, n)
			for i, pr := range sample.Propensity {
				if d.T[i] == 0 {
					pr = 1 - pr
				}
				d.Propensity[i] = pr
			}
		}
		fs := make([]explainFeature, p)
		for j, name := range sample.Features {
			fs[j] = explainFeature{Name: name}
		}
		texts := map[string]string{}
		if sample.Items != nil {
			ids := slices.Compact(slices.Sorted(slices.Values(sample.Items)))
			items, _, err := st.Items(ctx, ids)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				texts[it.ID] = it.Text
			}
		}
		var keys []string
		if len(texts) > 0 {
			keys = sample.Items
		}
		rep, err := explainModel(ctx, est, rec.Bytes, "", d, fs, keys, func(k string) string { return texts[k] }, serveExplainSettings)
		if err != nil {
			return nil, err
		}
		if r := rec.Metadata["ranker"]; r != "" && r != recommend.RankUplift {
			rep.Notes = append(rep.Notes, fmt.Sprintf("the model is of ranker %s: it predicts what that ranker ranks by, which may not be an uplift", r))
		}
		if len(texts) == 0 {
			rep.Notes = append(rep.Notes, "terms: the sample's items have no texts")
		}
		if sample.TableRows > n {
			rep.Notes = append(rep.Notes, fmt.Sprintf("explained on a random sample of %d of the %d training rows", n, sample.TableRows))
		}
		rep.Arm = "recommended"
		return json.Marshal(rep)
	}
}
