"""The T-learner of the py-sklearn plugin, computed with scikit-learn directly.

The Go test TestSklearnPlugin runs this script in the same
interpreter as the plugin, on the same rows, and compares its effects with
the plugin's. It uses scikit-learn's public API only (fit, predict_proba,
predict) and nothing of the plugin, so it checks the whole path: the rows
over gRPC, the parameters, the plugin's model format and its prediction.

    python3 sklearn_reference.py DIR

DIR holds the test's input, written by the Go test:

    spec.json     {"task": "classification" or "regression", "arms": K,
                   "train_rows": n, "test_rows": m, "features": d,
                   "weights": bool, "kwargs": {HistGradientBoosting keyword arguments}}
    x_train.f8    n x d float64, little-endian, row-major
    arm.i8        n int64
    y.f8          n float64
    w.f8          n float64 (when weights)
    x_test.f8     m x d float64

and receives effects.f8, m x (K - 1) float64: mu_k(x) - mu_0(x) for every
treated arm k, where mu_a is the model fitted on the rows of arm a.
"""

import json
import os
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor


def main(d):
    with open(os.path.join(d, "spec.json")) as f:
        spec = json.load(f)

    def read(name, dtype):
        return np.fromfile(os.path.join(d, name), dtype=dtype)

    nf = spec["features"]
    x = read("x_train.f8", "<f8").reshape(-1, nf)
    arm = read("arm.i8", "<i8")
    y = read("y.f8", "<f8")
    w = read("w.f8", "<f8") if spec["weights"] else None
    xt = read("x_test.f8", "<f8").reshape(-1, nf)
    kwargs = dict(spec["kwargs"])
    if kwargs.get("categorical_features") is not None:
        kwargs["categorical_features"] = np.array(kwargs["categorical_features"], dtype=bool)
    mu = []
    for a in range(spec["arms"]):
        rows = arm == a
        sw = None if w is None else w[rows]
        if spec["task"] == "classification":
            m = HistGradientBoostingClassifier(**kwargs).fit(x[rows], y[rows], sample_weight=sw)
            mu.append(m.predict_proba(xt)[:, 1])
        else:
            m = HistGradientBoostingRegressor(**kwargs).fit(x[rows], y[rows], sample_weight=sw)
            mu.append(m.predict(xt))
    eff = np.column_stack([m - mu[0] for m in mu[1:]])
    np.ascontiguousarray(eff, dtype="<f8").tofile(os.path.join(d, "effects.f8"))


if __name__ == "__main__":
    main(sys.argv[1])
