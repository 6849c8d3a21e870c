package main

import (
	"fmt"
	"maps"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/causalrec/causalrec/causal"
	"github.com/causalrec/causalrec/host/dataset"
	"github.com/causalrec/causalrec/plugins"
)

// requestData views a fit request read from a CSV file (X filled in) as
// causal's uplift data, with the schema's categorical flags.
func requestData(req plugins.FitRequest, schema dataset.Schema) causal.UpliftData {
	cat := make([]bool, len(schema.Features))
	for i, f := range schema.Features {
		cat[i] = f.Categorical
	}
	return causal.UpliftData{
		X: mat.NewDense(req.Rows(), len(req.Features), req.X), Treatment: req.Arm, Arms: len(req.Arms) - 1,
		Y: req.Outcome, Weights: req.Weight, Propensity: req.Propensity, Categorical: cat,
	}
}

// checkOverlap reports how much of the training data lies where
// treatment or control is nearly certain: from the plugin's fit metadata
// when it measured it (the built-in plugin's overlap_clipped, auto's
// auto_clipped), else by measuring it here (causal.Overlap, on up to
// causal.DefaultOverlapRows rows) and adding the report to meta, which it
// returns. A large share is a warning on stderr. The check is a
// diagnosis: when it fails, it says so and the model is kept.
func checkOverlap(s stdio, req plugins.FitRequest, schema dataset.Schema, meta map[string]string) map[string]string {
	for _, keys := range [][2]string{{"auto_clipped", "auto_overlap_warning"}, {"overlap_clipped", "overlap_warning"}} {
		if meta[keys[0]] != "" {
			if w := meta[keys[1]]; w != "" {
				fmt.Fprintf(s.err, "warning: %s\n", w)
			}
			return meta
		}
	}
	rep, err := causal.Overlap(requestData(req, schema), causal.OverlapOptions{}, rand.NewPCG(req.Seed, 0x0e))
	if err != nil {
		fmt.Fprintf(s.err, "warning: the overlap of the arms was not checked: %v\n", err)
		return meta
	}
	if w := rep.Warning(); w != "" {
		fmt.Fprintf(s.err, "warning: %s\n", w)
	}
	meta = maps.Clone(meta)
	if meta == nil {
		meta = map[string]string{}
	}
	maps.Copy(meta, rep.Metadata())
	return meta
}
