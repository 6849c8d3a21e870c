"""scikit-learn side of bench/uplift/speed: a LogisticRegression T-learner.

Usage: python3 sklearn_logreg.py data.npy ntrain
data.npy holds n rows of [t, y, x_0..x_11] (float64). One model per arm is
fitted on the first ntrain rows and the effect P(y=1|t=1,x)-P(y=1|t=0,x)
is predicted for the rest. Prints one JSON line: fit and predict seconds,
the test effects' checksum and the library versions.
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression


def main(path, ntrain):
    d = np.load(path)
    tr, te = d[:ntrain], d[ntrain:]
    t0 = time.perf_counter()
    models = []
    for arm in (0, 1):
        rows = tr[tr[:, 0] == arm]
        models.append(LogisticRegression(max_iter=1000).fit(rows[:, 2:], rows[:, 1]))
    t1 = time.perf_counter()
    eff = models[1].predict_proba(te[:, 2:])[:, 1] - models[0].predict_proba(te[:, 2:])[:, 1]
    t2 = time.perf_counter()
    np.save(path + ".scores.npy", eff)
    print(json.dumps({"fit_s": t1 - t0, "predict_s": t2 - t1, "numpy": np.__version__, "sklearn": sklearn.__version__}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
