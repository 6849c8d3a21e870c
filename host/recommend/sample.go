package recommend

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
)

// SampleRows is the most rows of the training sample stored with a model.
const SampleRows = 5000

// TrainingSample is a random sample of a model's training table, stored
// with the model (store.Store.PutModelSample) so that the model can be
// explained on the rows it was trained on (GET /v1/models/{id}/explain).
type TrainingSample struct {
	// Features names the columns of X, as the model's metadata does.
	Features []string `json:"features"`
	// TableRows is the number of rows of the whole table.
	TableRows int `json:"table_rows"`
	// X holds the sampled rows, row-major; Arm (0 control, 1 treated),
	// Outcome, Propensity (the logged probability of the arm received;
	// absent when the table had none) and Items (the item of the row)
	// one value a row.
	X          []float64 `json:"x"`
	Arm        []int     `json:"arm"`
	Outcome    []float64 `json:"outcome"`
	Propensity []float64 `json:"propensity,omitempty"`
	Items      []string  `json:"items"`
}

// Rows returns the number of sampled rows.
func (s TrainingSample) Rows() int { return len(s.Arm) }

// sampleTable draws up to n rows of t uniformly without replacement, in
// table order, with a source seeded by seed.
func sampleTable(t *Table, n int, seed uint64) TrainingSample {
	req := t.Request
	rows := len(req.Arm)
	// n distinct rows drawn uniformly with Floyd's algorithm, whose
	// memory is O(n) whatever the table's size, in the table's order.
	var idx []int
	if rows <= n {
		idx = make([]int, rows)
		for i := range idx {
			idx[i] = i
		}
	} else {
		rng := rand.New(rand.NewPCG(seed, 0x5a))
		chosen := make(map[int]bool, n)
		idx = make([]int, 0, n)
		for j := rows - n; j < rows; j++ {
			r := rng.IntN(j + 1)
			if chosen[r] {
				r = j
			}
			chosen[r] = true
			idx = append(idx, r)
		}
		slices.Sort(idx)
	}
	p := len(t.Features)
	s := TrainingSample{Features: slices.Clone([]string(t.Features)), TableRows: rows, X: make([]float64, 0, len(idx)*p)}
	hasItems := t.Items != nil || t.itemAt != nil
	for _, i := range idx {
		if req.X == nil && req.FillX != nil {
			// The table's rows are written on demand (BuildTable).
			s.X = s.X[:len(s.X)+p]
			req.FillX(s.X[len(s.X)-p:], i, i+1)
		} else {
			s.X = append(s.X, req.X[i*p:(i+1)*p]...)
		}
		s.Arm = append(s.Arm, req.Arm[i])
		s.Outcome = append(s.Outcome, req.Outcome[i])
		if req.Propensity != nil {
			s.Propensity = append(s.Propensity, req.Propensity[i])
		}
		if hasItems {
			s.Items = append(s.Items, t.Item(i))
		}
	}
	return s
}

// DecodeTrainingSample reads a stored sample and checks that its parts
// agree.
func DecodeTrainingSample(b []byte) (TrainingSample, error) {
	var s TrainingSample
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("training sample: %w", err)
	}
	n, p := s.Rows(), len(s.Features)
	switch {
	case p == 0:
		return s, fmt.Errorf("training sample: no features")
	case len(s.X) != n*p || len(s.Outcome) != n || (s.Propensity != nil && len(s.Propensity) != n) || (s.Items != nil && len(s.Items) != n):
		return s, fmt.Errorf("training sample: %d rows of %d features, but %d values, %d outcomes, %d propensities, %d items",
			n, p, len(s.X), len(s.Outcome), len(s.Propensity), len(s.Items))
	}
	for i, a := range s.Arm {
		if a != 0 && a != 1 {
			return s, fmt.Errorf("training sample: row %d has arm %d, want 0 or 1", i, a)
		}
	}
	return s, nil
}
