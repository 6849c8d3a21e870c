package recommend

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ModelMeta is what a stored model records about its training, beside
// the estimator's own bytes. It is stored as the string map of
// store.ModelRecord.Metadata (the form GET /v1/models shows), one key a
// field:
//
//	features    JSON list of the feature names, in column order
//	ranker      the ranker (absent: uplift, as models stored before it was recorded)
//	rows, treated, control, events   counts of the training table
//	propensity  "logged" or "estimated"
//	period      the row period (a Go duration, "0s" for none)
//	text        JSON of the TextReport
//	defaults    JSON map from feature name to the value of a user or item lacking it
//	fit.<key>   the estimator plugin's fit report, key by key
type ModelMeta struct {
	Features                       featureSet
	Ranker                         string
	Rows, Treated, Control, Events int
	Propensity                     string
	Period                         time.Duration
	Text                           TextReport
	// Defaults holds, for the user and item features, the value a user
	// or item without the feature takes: the mean over those that have
	// it. Models stored without defaults use 0.
	Defaults map[string]float64
	// Fit is the estimator plugin's report.
	Fit map[string]string
}

// fitPrefix starts the keys of the estimator's report.
const fitPrefix = "fit."

// encode returns the string map form.
func (m ModelMeta) encode() (map[string]string, error) {
	feats, err := json.Marshal([]string(m.Features))
	if err != nil {
		return nil, fmt.Errorf("model metadata: features: %w", err)
	}
	text, err := json.Marshal(m.Text)
	if err != nil {
		return nil, fmt.Errorf("model metadata: text: %w", err)
	}
	out := map[string]string{
		"features": string(feats), "ranker": m.Ranker, "rows": strconv.Itoa(m.Rows), "treated": strconv.Itoa(m.Treated),
		"control": strconv.Itoa(m.Control), "events": strconv.Itoa(m.Events), "propensity": m.Propensity,
		"period": m.Period.String(), "text": string(text),
	}
	if len(m.Defaults) > 0 {
		b, err := json.Marshal(m.Defaults)
		if err != nil {
			return nil, fmt.Errorf("model metadata: defaults: %w", err)
		}
		out["defaults"] = string(b)
	}
	for k, v := range m.Fit {
		out[fitPrefix+k] = v
	}
	return out, nil
}

// decodeModelMeta reads the string map form. Only the feature list is
// required; a model stored before a key existed gets its default (ranker
// uplift, no text features, no feature defaults).
func decodeModelMeta(raw map[string]string) (ModelMeta, error) {
	var m ModelMeta
	if err := json.Unmarshal([]byte(raw["features"]), &m.Features); err != nil {
		return m, fmt.Errorf("no feature list: %w", err)
	}
	m.Ranker = raw["ranker"]
	if m.Ranker == "" {
		m.Ranker = RankUplift
	}
	for _, c := range []struct {
		key string
		dst *int
	}{{"rows", &m.Rows}, {"treated", &m.Treated}, {"control", &m.Control}, {"events", &m.Events}} {
		if s, ok := raw[c.key]; ok {
			v, err := strconv.Atoi(s)
			if err != nil {
				return m, fmt.Errorf("%s %q: %w", c.key, s, err)
			}
			*c.dst = v
		}
	}
	m.Propensity = raw["propensity"]
	if s, ok := raw["period"]; ok {
		d, err := time.ParseDuration(s)
		if err != nil {
			return m, fmt.Errorf("period %q: %w", s, err)
		}
		m.Period = d
	}
	if s := raw["text"]; s != "" {
		if err := json.Unmarshal([]byte(s), &m.Text); err != nil {
			return m, fmt.Errorf("text metadata: %w", err)
		}
	}
	if s := raw["defaults"]; s != "" {
		if err := json.Unmarshal([]byte(s), &m.Defaults); err != nil {
			return m, fmt.Errorf("feature defaults: %w", err)
		}
	}
	for k, v := range raw {
		if key, ok := strings.CutPrefix(k, fitPrefix); ok {
			if m.Fit == nil {
				m.Fit = map[string]string{}
			}
			m.Fit[key] = v
		}
	}
	return m, nil
}
