package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/causalrec/causalrec/host/dataset"
)

// TestReadModelFileBulk checks that a model file reads the same whether
// its model bytes are base64-decoded directly (as writeModelFile writes
// them) or, written with escapes, by encoding/json, and that a line break
// inside the base64 string, which JSON forbids, is an error.
func TestReadModelFileBulk(t *testing.T) {
	dir := t.TempDir()
	model := make([]byte, 3000)
	for i := range model {
		model[i] = byte(i * 7)
	}
	want := modelFile{ID: uuid.New(), CreatedAt: time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC), Plugin: "causal", Estimator: "t",
		Schema: dataset.Schema{Features: []dataset.SchemaFeature{{Name: "x"}}, Arms: []string{"c", "t"}}, Metadata: map[string]string{"rows": "10"}, Model: model}
	path := filepath.Join(dir, "m.json")
	if _, err := writeModelFile(path, want); err != nil {
		t.Fatal(err)
	}
	want.Format, want.Version = modelFileFormat, modelFileVersion
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !decodeModelFileBulk(b, new(modelFile)) {
		t.Fatal("decodeModelFileBulk does not take the file that writeModelFile writes")
	}
	escaped := bytes.ReplaceAll(b, []byte("/"), []byte(`\/`))
	if !bytes.Contains(escaped, []byte(`\/`)) {
		t.Fatal("no slash in the file: the test does not reach encoding/json")
	}
	at := bytes.Index(b, []byte(`"model":"`)) + len(`"model":"`) + 40
	for _, tc := range []struct {
		name string
		file []byte
		ok   bool
	}{
		{"as written", b, true},
		{"with escapes", escaped, true},
		{"line break in the model bytes", append(append(bytes.Clone(b[:at]), '\n'), b[at:]...), false},
		{"truncated", b[:len(b)-2], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "f.json")
			if err := os.WriteFile(p, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readModelFile(p)
			if !tc.ok {
				if err == nil {
					t.Fatal("read a corrupt file without an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read %+v, want %+v", got, want)
			}
		})
	}
}
