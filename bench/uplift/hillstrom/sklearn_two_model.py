"""scikit-learn two-model (T-learner) baseline for bench/uplift/hillstrom.

Usage: python3 sklearn_two_model.py features.csv scores.csv

features.csv (written by the Go side) has a header and the columns
split, t, y, then the features; split is "train" or "test". Two
HistGradientBoostingClassifier models (default settings, random_state=0)
and two LogisticRegression models are fitted on the train rows, one per
arm, and the test rows' scores P(y=1|x,t=1) - P(y=1|x,t=0) are written to
scores.csv (columns hgb, logreg), one line per test row in file order.
The first line of stdout is a JSON object with the library versions.
"""
import csv
import json
import sys

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main(src, dst):
    with open(src, newline="") as f:
        rows = list(csv.reader(f))
    body = rows[1:]
    split = np.array([r[0] for r in body])
    data = np.array([[float(v) for v in r[1:]] for r in body])
    t, y, x = data[:, 0].astype(int), data[:, 1], data[:, 2:]
    tr, te = split == "train", split == "test"
    out = {}
    for name, make in (
        ("hgb", lambda: HistGradientBoostingClassifier(random_state=0)),
        ("logreg", lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
    ):
        p = []
        for arm in (0, 1):
            m = make().fit(x[tr & (t == arm)], y[tr & (t == arm)])
            p.append(m.predict_proba(x[te])[:, 1])
        out[name] = p[1] - p[0]
    with open(dst, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["hgb", "logreg"])
        for a, b in zip(out["hgb"], out["logreg"]):
            w.writerow([repr(float(a)), repr(float(b))])
    print(json.dumps({"numpy": np.__version__, "sklearn": sklearn.__version__}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
