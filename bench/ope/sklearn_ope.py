"""Off-policy evaluation with numpy and scikit-learn: the reference that
bench/ope times causalrec ope against.

It computes what `causalrec ope --estimators ipw,snipw,dm,dr,sndr,switch-dr,
dros,switch-dr-tuned,dros-tuned --bootstrap B` computes, on the same files:

  - the log (pandas.read_csv; an unnamed leading index column is the index)
    with the Open Bandit Dataset's columns, and a context-free policy file
    item_id,position,prob;
  - the reward model: a ridge-penalised logistic regression on the design
    [x, onehot(position), onehot(action), onehot(action) (x) x], text columns
    one-hot with the first level (in order of appearance) as reference,
    every column scaled by its standard deviation over the training rows,
    penalty l2 = 1/C on the scaled coefficients, intercept unpenalised:
    causalrec's logistic reward model (causal.Linear's objective), fitted by
    LogisticRegression(lbfgs) on a sparse design; 3-fold cross-fitting;
  - the estimators and the tuned ones' SLOPE choice on the grid
    10, 50, 100, 500, 1000, 5000, 10000, inf;
  - the influence-function standard errors and percentile bootstrap
    intervals over B resamples, the self-normalised estimators normalised
    again in every resample; vectorised: a resample is a bincount of n
    uniform row indices and one matrix-vector product.

Usage: python3 sklearn_ope.py LOG.csv POLICY.csv OUT.json [folds] [resamples] [seed]
"""
import json
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from sklearn.linear_model import LogisticRegression

LAMBDAS = [10, 50, 100, 500, 1000, 5000, 10000, np.inf]


def design(ctx, action, position, n_actions, n_pos):
    """The sparse design [x, onehot(k), onehot(a), onehot(a) (x) x]."""
    n, d = ctx.shape
    rows = np.arange(n)
    blocks = [sp.csr_matrix(ctx)]
    blocks.append(sp.csr_matrix((np.ones(n), (rows, position)), shape=(n, n_pos)))
    blocks.append(sp.csr_matrix((np.ones(n), (rows, action)), shape=(n, n_actions)))
    r = np.repeat(rows, d)
    c = (action[:, None] * d + np.arange(d)[None, :]).ravel()
    v = ctx.ravel()
    keep = v != 0
    blocks.append(sp.csr_matrix((v[keep], (r[keep], c[keep])), shape=(n, n_actions * d)))
    return sp.hstack(blocks, format="csr")


def fit_reward(X, y, l2=1.0):
    """The logistic model on columns scaled by their sd; returns the
    coefficients on the original scale and the intercept."""
    mean = np.asarray(X.mean(axis=0)).ravel()
    meansq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    sd = np.sqrt(np.maximum(meansq - mean * mean, 0))
    active = sd > 1e-12 * np.maximum(1, np.abs(mean))
    scale = np.where(active, 1 / np.where(active, sd, 1), 0)
    Xs = X @ sp.diags(scale)
    m = LogisticRegression(C=1 / l2, max_iter=1000)
    m.fit(Xs, y)
    return m.coef_.ravel() * scale, m.intercept_[0]


def slope(grid, theta, cnf):
    """SLOPE as OBP implements it (Tucker and Lee 2021)."""
    C = np.sqrt(6) - 1
    order = np.argsort(cnf)[::-1]
    acc_t, acc_c = [], []
    for i, idx in enumerate(order):
        if acc_t and not (np.abs(np.array(acc_t) - theta[idx]) <= cnf[idx] + C * np.array(acc_c)).all():
            return grid[order[i - 1]]
        acc_t.append(theta[idx])
        acc_c.append(cnf[idx])
    return grid[order[-1]]


def main():
    log_path, pol_path, out_path = sys.argv[1:4]
    folds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    B = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    t0 = time.perf_counter()
    df = pd.read_csv(log_path, index_col=0)
    pol = pd.read_csv(pol_path)
    t_read = time.perf_counter() - t0

    roles = ["item_id", "position", "click", "propensity_score"]
    actions = np.sort(df["item_id"].unique())
    positions = np.sort(df["position"].unique())
    a = np.searchsorted(actions, df["item_id"].to_numpy())
    k = np.searchsorted(positions, df["position"].to_numpy())
    r = df["click"].to_numpy(dtype=float)
    p = df["propensity_score"].to_numpy(dtype=float)
    n, A, P = len(df), len(actions), len(positions)
    cols = []
    for c in df.columns:
        if c in roles or c == "timestamp":
            continue
        if df[c].dtype == object:
            codes, _ = pd.factorize(df[c])
            levels = codes.max() + 1
            onehot = np.zeros((n, levels - 1))
            nz = codes > 0
            onehot[np.nonzero(nz)[0], codes[nz] - 1] = 1
            cols.append(onehot)
        else:
            cols.append(df[c].to_numpy(dtype=float)[:, None])
    ctx = np.hstack(cols)
    prob = np.zeros((P, A))
    prob[np.searchsorted(positions, pol["position"]), np.searchsorted(actions, pol["item_id"])] = pol["prob"]

    # Cross-fitted reward model: q at the logged action and averaged over
    # the policy.
    t1 = time.perf_counter()
    X = design(ctx, a, k, A, P)
    d = ctx.shape[1]
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=int)
    fold[rng.permutation(n)] = np.arange(n) % folds
    q_fact, q_pol = np.empty(n), np.empty(n)
    for f in range(folds):
        tr, te = fold != f, np.nonzero(fold == f)[0]
        coef, b0 = fit_reward(X[tr], r[tr])
        beta_x, beta_k = coef[:d], coef[d:d + P]
        alpha = coef[d + P:d + P + A]
        gamma = coef[d + P + A:].reshape(A, d)
        for lo in range(0, len(te), 100000):
            rows = te[lo:lo + 100000]
            base = b0 + ctx[rows] @ beta_x + beta_k[k[rows]]
            eta = base[:, None] + alpha[None, :] + ctx[rows] @ gamma.T
            q = 1 / (1 + np.exp(-eta))
            q_fact[rows] = q[np.arange(len(rows)), a[rows]]
            q_pol[rows] = (q * prob[k[rows]]).sum(axis=1)
    t_model = time.perf_counter() - t1

    t2 = time.perf_counter()
    w = prob[k, a] / p
    e = r - q_fact

    def switch(lam):
        return np.where(w <= lam, w, 0.0)

    def shrink(lam):
        return w if np.isinf(lam) else lam * w / (w * w + lam)

    tq = stats.t(n - 1).ppf(0.95)

    def tune(hat):
        theta, cnf = [], []
        for lam in LAMBDAS:
            phi = q_pol + hat(lam) * e
            theta.append(phi.mean())
            cnf.append(tq * np.sqrt(phi.var() / (n - 1)))
        return slope(LAMBDAS, np.array(theta), np.array(cnf))

    lam_sw, lam_ros = tune(switch), tune(shrink)
    # Per-row columns whose resampled sums give every estimator.
    V = np.column_stack([w * r, w, q_pol, w * e, switch(100) * e, shrink(10000) * e, switch(lam_sw) * e, shrink(lam_ros) * e])

    def values(S, m):
        return {
            "ipw": S[0] / m, "snipw": S[0] / S[1], "dm": S[2] / m, "dr": (S[2] + S[3]) / m,
            "sndr": S[2] / m + S[3] / S[1], "switch-dr": (S[2] + S[4]) / m, "dros": (S[2] + S[5]) / m,
            "switch-dr-tuned": (S[2] + S[6]) / m, "dros-tuned": (S[2] + S[7]) / m,
        }

    point = values(V.sum(axis=0), n)
    wbar = w.mean()
    snipw, c = point["snipw"], V[:, 3].sum() / V[:, 1].sum()
    phi = {
        "ipw": V[:, 0], "snipw": w * (r - snipw) / wbar, "dm": q_pol, "dr": q_pol + V[:, 3],
        "sndr": q_pol + w * (e - c) / wbar, "switch-dr": q_pol + V[:, 4], "dros": q_pol + V[:, 5],
        "switch-dr-tuned": q_pol + V[:, 6], "dros-tuned": q_pol + V[:, 7],
    }
    reps = {name: np.empty(B) for name in point}
    boot = np.random.default_rng(seed + 1)
    for b in range(B):
        counts = np.bincount(boot.integers(0, n, n), minlength=n)
        for name, v in values(counts @ V, n).items():
            reps[name][b] = v
    t_est = time.perf_counter() - t2

    out = {"rounds": n, "positions": P, "actions": A, "logged_value": r.mean(), "estimates": []}
    for name, v in point.items():
        lo, hi = np.percentile(reps[name], [2.5, 97.5])
        out["estimates"].append({"estimator": name, "value": v, "ci": [lo, hi], "se": phi[name].std(ddof=1) / np.sqrt(n)})
    out["seconds"] = {"read": t_read, "reward_model": t_model, "estimators_and_bootstrap": t_est}
    out["lambda"] = {"switch-dr-tuned": str(lam_sw), "dros-tuned": str(lam_ros)}
    out["numpy"], out["sklearn"] = np.__version__, __import__("sklearn").__version__
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
