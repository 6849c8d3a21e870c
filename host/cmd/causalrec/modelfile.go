package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/causal/jsonobj"
	"github.com/causalrec/causalrec/host/dataset"
)

// Model files written by "causalrec uplift fit".
const (
	modelFileFormat  = "causalrec.uplift-model"
	modelFileVersion = 1
)

// modelFile is a fitted uplift model with everything needed to apply it to
// new CSV data: the plugin that fitted it and the encoding of the features.
type modelFile struct {
	Format        string            `json:"format"`
	Version       int               `json:"version"`
	ID            uuid.UUID         `json:"id"`
	CreatedAt     time.Time         `json:"created_at"`
	Plugin        string            `json:"plugin"`
	PluginVersion string            `json:"plugin_version"`
	Estimator     string            `json:"estimator"`
	Params        map[string]string `json:"params,omitempty"`
	Schema        dataset.Schema    `json:"schema"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	// Balance is the balance check of the training data (absent in files
	// written before it existed).
	Balance *balanceSummary `json:"balance,omitempty"`
	// Model is the plugin's own model bytes.
	Model []byte `json:"model"`
}

// writeModelFile writes m to path atomically and returns the file's size.
func writeModelFile(path string, m modelFile) (int, error) {
	m.Format, m.Version = modelFileFormat, modelFileVersion
	b, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return 0, fmt.Errorf("write model: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("write model: %w", err)
	}
	return len(b), nil
}

func readModelFile(path string) (modelFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return modelFile{}, fmt.Errorf("read model: %w", err)
	}
	// The model bytes, in base64, are most of the file: they are decoded
	// directly, the rest with encoding/json.
	var m modelFile
	if !decodeModelFileBulk(b, &m) {
		m = modelFile{}
		if err := json.Unmarshal(b, &m); err != nil {
			return modelFile{}, fmt.Errorf("model %s is not a causalrec model file: %w", path, err)
		}
	}
	switch {
	case m.Format != modelFileFormat:
		return modelFile{}, fmt.Errorf("model %s is not a causalrec model file (format %q)", path, m.Format)
	case m.Version != modelFileVersion:
		return modelFile{}, fmt.Errorf("model %s has file version %d; this causalrec reads version %d", path, m.Version, modelFileVersion)
	case len(m.Model) == 0 || len(m.Schema.Arms) < 2:
		return modelFile{}, fmt.Errorf("model %s is incomplete", path)
	}
	return m, nil
}

// decodeModelFileBulk decodes a model file whose model bytes are a base64
// string without escapes, as writeModelFile writes it. It returns false
// for anything else, which encoding/json then decodes or rejects.
func decodeModelFileBulk(b []byte, m *modelFile) bool {
	raw, rest, ok := jsonobj.Split(b, "model")
	if !ok {
		return false
	}
	s, ok := jsonobj.String(raw)
	if !ok || json.Unmarshal(rest, m) != nil {
		return false
	}
	m.Model = make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(m.Model, s)
	// Decode skips line breaks, which a JSON string cannot hold.
	if err != nil || base64.StdEncoding.EncodedLen(n) != len(s) {
		return false
	}
	m.Model = m.Model[:n]
	return true
}
