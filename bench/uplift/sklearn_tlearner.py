"""The scikit-learn side of bench/uplift: a T-learner with
HistGradientBoostingClassifier (default settings) on the reference CSV.

Usage: python3 sklearn_tlearner.py reference.csv [effects.f64]
Prints one JSON line with the same fields as the Go side and, when a second
path is given, writes the predicted effects of the test rows there as
little-endian float64 values.
"""
import gc
import json
import resource
import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reset_peak():
    """Reset the peak resident set size (Linux), as the Go side does."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak():
    """Peak resident set size in MB since reset_peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(path, scores=None):
    d = np.loadtxt(path, delimiter=",", skiprows=1)
    x, t, y = d[:, :12], d[:, 12].astype(int), d[:, 13]
    del d
    n = len(y)
    n_train = n * 8 // 10
    tr = np.arange(n_train)
    x0, y0 = x[tr[t[tr] == 0]], y[tr[t[tr] == 0]]
    x1, y1 = x[tr[t[tr] == 1]], y[tr[t[tr] == 1]]
    x_test = x[n_train:]
    reset_peak()

    start, cpu0 = time.perf_counter(), time.process_time()
    m0 = HistGradientBoostingClassifier(random_state=1).fit(x0, y0)
    m1 = HistGradientBoostingClassifier(random_state=2).fit(x1, y1)
    fit_sec = time.perf_counter() - start
    fit_cpu = time.process_time() - cpu0

    start = time.perf_counter()
    p0 = m0.predict_proba(x_test)[:, 1]
    p1 = m1.predict_proba(x_test)[:, 1]
    pred_sec = time.perf_counter() - start

    base = -2 + x_test[:, 0] + 0.5 * x_test[:, 1]
    truth = sigmoid(base + 0.3 * x_test[:, 2] - 0.2 * x_test[:, 3] + 0.5) - sigmoid(base)
    rmse = float(np.sqrt(np.mean((p1 - p0 - truth) ** 2)))
    if scores:
        (p1 - p0).astype("<f8").tofile(scores)
    peak_mb = peak()
    print(json.dumps({
        "side": "scikit-learn", "fit_sec": fit_sec, "fit_cpu_sec": fit_cpu, "predict_sec": pred_sec,
        "peak_mb": peak_mb, "rmse": rmse,
        "trees_control": int(m0.n_iter_), "trees_treated": int(m1.n_iter_),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:3])
