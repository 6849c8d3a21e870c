#!/usr/bin/python3
"""py-sklearn: a causalrec uplift estimator plugin over scikit-learn.

Estimator "t", the T-learner: one HistGradientBoosting model of the outcome
per arm, fitted on that arm's rows only,

    mu_a(x) = E[Y | X = x, arm = a]        (a = 0 is control)
    tau_k(x) = mu_k(x) - mu_0(x)           for every treated arm k

with a HistGradientBoostingClassifier (mu = P(Y = 1), the second column of
predict_proba) when every outcome is 0 or 1 and task is auto or
classification, else a HistGradientBoostingRegressor (squared error).

Parameters (from the fit request; see PARAMS): task, max_iter,
learning_rate, max_leaf_nodes, max_depth, min_samples_leaf,
l2_regularization, max_bins, early_stopping, validation_fraction,
n_iter_no_change, categorical. Every model gets random_state = the fit
request's seed modulo 2^32. Categorical features (level indexes) are
passed to scikit-learn as categorical when categorical is true and they
have at most max_bins levels; otherwise as numbers. Row weights, when the
host sends them, are the models' sample weights.

The fit reports its progress in steps, one per arm's model: 0 of arms
before the first model, a of arms once a models are fitted. (Not per
boosting iteration: HistGradientBoosting has no callback, and fitting in
chunks with warm_start gives other trees when early stopping is on.)

Models are stored in tree_format (not pickle): the plugin writes and reads
its own bytes and refuses any it did not write. The fit also reports each
treated arm's difference in mean outcomes with its standard error.

Run by the causalrec host only (it refuses to start otherwise); configure
the wrapper causalrec-sklearn-estimator next to this file, which checks the
Python files' checksums first.
"""

import argparse
import math
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_here))
sys.path.insert(0, _here)

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402

import tree_format  # noqa: E402
from causalrec_plugin import serve  # noqa: E402
from causalrec_plugin.estimator import (  # noqa: E402
    EstimatorInfo, FitResult, Param, Prediction, estimator_handler)

NAME = "py-sklearn"
VERSION = "1.0.0+sklearn-" + sklearn.__version__
ESTIMATORS = ("t",)

PARAMS = (
    Param("task", "enum", "auto", "auto: classification when every outcome is 0 or 1, else regression",
          ("auto", "classification", "regression")),
    Param("max_iter", "int", "100", "boosting iterations (trees) per arm"),
    Param("learning_rate", "float", "0.1", "shrinkage of each tree, > 0"),
    Param("max_leaf_nodes", "int", "31", "leaves per tree, at least 2"),
    Param("max_depth", "int", "", "depth limit of each tree (default none)"),
    Param("min_samples_leaf", "int", "20", "rows per leaf, at least 1"),
    Param("l2_regularization", "float", "0", "L2 penalty of the leaf values, >= 0"),
    Param("max_bins", "int", "255", "histogram bins of numeric features, 2 to 255"),
    Param("early_stopping", "enum", "auto", "hold out validation_fraction of each arm's rows and stop when the "
          "loss stops improving (auto: when the arm has over 10,000 rows)", ("auto", "true", "false")),
    Param("validation_fraction", "float", "0.1", "share of rows held out for early stopping, in (0, 1)"),
    Param("n_iter_no_change", "int", "10", "iterations without improvement before early stopping, at least 1"),
    Param("categorical", "bool", "true", "treat categorical features as categories (else as level numbers)"),
)


def _check_ranges(v, given):
    """Check the typed values v; given holds the parameters' text as sent."""
    checks = (
        ("max_iter", v["max_iter"] >= 1, "at least 1"),
        ("learning_rate", v["learning_rate"] > 0, "positive"),
        ("max_leaf_nodes", v["max_leaf_nodes"] >= 2, "at least 2"),
        ("max_depth", v["max_depth"] is None or v["max_depth"] >= 1, "at least 1"),
        ("min_samples_leaf", v["min_samples_leaf"] >= 1, "at least 1"),
        ("l2_regularization", v["l2_regularization"] >= 0, "non-negative"),
        ("max_bins", 2 <= v["max_bins"] <= 255, "between 2 and 255"),
        ("validation_fraction", 0 < v["validation_fraction"] < 1, "in (0, 1)"),
        ("n_iter_no_change", v["n_iter_no_change"] >= 1, "at least 1"),
    )
    for name, ok, want in checks:
        if not ok:
            raise ValueError("parameter %s=%s: must be %s" % (name, given.get(name, v[name]), want))


def sklearn_kwargs(values, seed, categorical_mask):
    """The keyword arguments of each arm's HistGradientBoosting model."""
    es = {"auto": "auto", "true": True, "false": False}[values["early_stopping"]]
    return dict(
        max_iter=values["max_iter"], learning_rate=values["learning_rate"],
        max_leaf_nodes=values["max_leaf_nodes"], max_depth=values["max_depth"],
        min_samples_leaf=values["min_samples_leaf"], l2_regularization=values["l2_regularization"],
        max_bins=values["max_bins"], early_stopping=es, validation_fraction=values["validation_fraction"],
        n_iter_no_change=values["n_iter_no_change"],
        categorical_features=categorical_mask if categorical_mask is not None and categorical_mask.any() else None,
        random_state=seed % (1 << 32))


def _ensemble(model, link):
    """The fitted trees of a HistGradientBoosting model as a tree_format.Ensemble."""
    if model.n_trees_per_iteration_ != 1:
        raise RuntimeError("model has %d trees per iteration, want 1" % model.n_trees_per_iteration_)
    known = {}
    if model.is_categorical_ is not None and model.is_categorical_.any():
        sets, f_idx = model._bin_mapper.make_known_categories_bitsets()
        for fi in np.flatnonzero(model.is_categorical_):
            known[int(fi)] = sets[f_idx[fi]]
    trees = []
    for (p,) in model._predictors:
        n = p.nodes
        flags = (n["is_leaf"].astype(np.uint8) * tree_format.FLAG_LEAF
                 | n["missing_go_to_left"].astype(np.uint8) * tree_format.FLAG_MISSING_LEFT
                 | n["is_categorical"].astype(np.uint8) * tree_format.FLAG_CATEGORICAL)
        trees.append(tree_format.Tree(
            value=n["value"], threshold=n["num_threshold"], feature=n["feature_idx"], left=n["left"],
            right=n["right"], bitset=n["bitset_idx"], flags=flags,
            bitsets=np.asarray(p.raw_left_cat_bitsets, dtype=np.uint32).reshape(-1, 8)))
    baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
    return tree_format.Ensemble(link=link, baseline=baseline, trees=trees, known=known)


def _mean_diff(y, arm, k, w):
    """Difference in (weighted) mean outcomes of arm k and control, with its standard error."""
    def mean_var(a):
        rows = arm == a
        ww = np.ones(rows.sum()) if w is None else w[rows]
        m = np.average(y[rows], weights=ww)
        n_eff = ww.sum() ** 2 / (ww ** 2).sum()
        v = np.average((y[rows] - m) ** 2, weights=ww) * n_eff / max(n_eff - 1, 1)
        return m, v / n_eff
    m1, v1 = mean_var(k)
    m0, v0 = mean_var(0)
    return m1 - m0, math.sqrt(v1 + v0)


class _Model:
    """A loaded model: the treated arms' names and one ensemble per arm."""

    def __init__(self, arms, n_features, ensembles):
        self.arms, self.n_features, self.ensembles = arms, n_features, ensembles


class TLearner:
    """The plugin's estimator (see the module's doc).

    threads is the number of OpenMP threads scikit-learn's fits use. On a
    busy machine more threads than idle cores make the fits many times
    slower (OpenMP's threads wait for each other by spinning), hence the
    default of 1.
    """

    def __init__(self, threads=1):
        if threads < 1:
            raise ValueError("threads %d: want at least 1" % threads)
        self.threads = threads

    def info(self):
        return EstimatorInfo(name=NAME, version=VERSION, estimators=list(ESTIMATORS),
                             capabilities=["multi_arm", "categorical", "weights"], params=list(PARAMS))

    def fit(self, req, progress=None):
        """Fit one model per arm; progress(done, total), when given, is
        told of each model fitted (and raises when the client went away,
        which ends the fit)."""
        progress = progress or (lambda done, total: None)
        v = req.values
        _check_ranges(v, req.params)
        y, arm, w = req.outcome, req.arm, req.weight
        if not np.isfinite(y).all():
            raise ValueError("outcomes must be finite numbers")
        if w is not None and (not np.isfinite(w).all() or (w < 0).any()):
            raise ValueError("weights must be finite and non-negative")
        binary = bool(np.isin(y, (0.0, 1.0)).all())
        task = v["task"]
        if task == "auto":
            task = "classification" if binary else "regression"
        elif task == "classification" and not binary:
            raise ValueError("task classification needs outcomes that are 0 or 1")
        mask = None
        as_numbers = []
        if v["categorical"]:
            mask = np.array([f.categorical and len(f.levels) <= v["max_bins"] for f in req.features])
            as_numbers = [f.name for f in req.features if f.categorical and len(f.levels) > v["max_bins"]]
        kwargs = sklearn_kwargs(v, req.seed, mask)
        ensembles, meta = [], {}
        progress(0, len(req.arms))
        for a, name in enumerate(req.arms):
            rows = arm == a
            n = int(rows.sum())
            if n == 0:
                raise ValueError("arm %r has no rows" % name)
            if task == "classification" and len(np.unique(y[rows])) < 2:
                raise ValueError("arm %r: every outcome is %g; a classifier needs both 0 and 1" % (name, y[rows][0]))
            cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
            # The limit is per thread in OpenMP, so it is set here, in the
            # gRPC worker thread that fits.
            with threadpool_limits(limits=self.threads, user_api="openmp"):
                model = cls(**kwargs).fit(req.x[rows], y[rows], sample_weight=None if w is None else w[rows])
            ensembles.append(_ensemble(model, "logit" if task == "classification" else "identity"))
            meta["iterations_" + name] = str(model.n_iter_)
            meta["rows_" + name] = str(n)
            progress(a + 1, len(req.arms))
        header = {"plugin": NAME, "estimator": req.estimator, "task": task, "arms": req.arms,
                  "params": req.params, "sklearn": sklearn.__version__}
        model_bytes = tree_format.encode(header, req.x.shape[1], ensembles)
        meta.update({"estimator": req.estimator, "task": task, "plugin": NAME, "plugin_version": VERSION,
                     "format": "tree_format %d" % tree_format.VERSION, "rows": str(req.rows),
                     "features": str(req.x.shape[1])})
        if as_numbers:
            meta["categorical_as_numbers"] = ",".join(as_numbers)
        ate, se = zip(*(_mean_diff(y, arm, k, w) for k in range(1, len(req.arms))))
        return FitResult(model=model_bytes, metadata=meta, ate=list(ate), ate_se=list(se))

    def load(self, model):
        meta, d, ensembles = tree_format.decode(model)
        if meta.get("plugin") != NAME or meta.get("estimator") not in ESTIMATORS:
            raise ValueError("not a %s model" % NAME)
        arms = meta.get("arms")
        if not isinstance(arms, list) or len(arms) < 2 or not all(isinstance(a, str) for a in arms):
            raise ValueError("%s model header is malformed: arms" % NAME)
        if len(ensembles) != len(arms):
            raise ValueError("%s model has %d tree ensembles for %d arms" % (NAME, len(ensembles), len(arms)))
        return _Model(arms[1:], d, ensembles)

    def predict(self, model, x, interval_level):
        if x.shape[1] != model.n_features:
            raise ValueError("rows have %d features, the model was fitted on %d" % (x.shape[1], model.n_features))
        mu = [tree_format.predict(e, x) for e in model.ensembles]
        eff = np.column_stack([m - mu[0] for m in mu[1:]]) if x.shape[0] else np.empty((0, len(model.arms)))
        return Prediction(effects=eff, arms=model.arms)


def main(argv=None):
    p = argparse.ArgumentParser(prog="sklearn_tlearner.py",
                                description="causalrec uplift estimator plugin: a T-learner over scikit-learn")
    p.add_argument("--threads", type=int, default=1, help="OpenMP threads of each fit (default %(default)s)")
    p.add_argument("--exit-on-stdin-close", action="store_true", help="also exit when stdin reaches end of file")
    args = p.parse_args(argv)
    try:
        est = TLearner(args.threads)
    except ValueError as e:
        p.error(str(e))
    return serve([estimator_handler(est, NAME)], name=NAME, exit_on_stdin_close=args.exit_on_stdin_close)


if __name__ == "__main__":
    sys.exit(main())
