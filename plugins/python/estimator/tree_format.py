"""tree_format: the model bytes of the py-sklearn estimator plugin.

The host stores a fitted model's bytes and hands them back to the plugin
for every prediction, maybe after months and from another machine. A
pickle would run whatever code the bytes name, so the plugin keeps its
models in this format instead: plain arrays of tree nodes that only this
module reads, after checking every field. Bytes it did not write (another
plugin's model, a truncated or edited file) are refused with ValueError;
well-formed bytes describe nothing but trees, so no code runs from them.

Layout (integers little-endian):

    offset  size  field
    0       8     magic b"\\x89CRTREE\\n"
    8       4     format version (1)
    12      4     header length H
    16      H     header: a UTF-8 JSON object (below)
    16+H    P     payload: the node arrays of every tree, P = header["payload_bytes"]
    16+H+P  32    sha256 of every byte before it

The header holds the caller's metadata ("meta"), the number of feature
columns ("n_features", which every split must name one of) and one entry
per tree ensemble ("ensembles"): its link ("identity" or "logit"), baseline (the
raw prediction before any tree), the known categories of each categorical
feature (a 256-bit set as 8 uint32 words, by feature index) and the
(nodes, bitsets) counts of its trees. The payload holds, over all N nodes
of all trees in order, the columns value (f8), threshold (f8), feature
(i4), left (i4), right (i4), bitset (i4), then the B categorical split
sets (B x 8 u4), then the node flags (u1: 1 leaf, 2 missing values go
left, 4 categorical split).

A tree's nodes are numbered from its root, 0; an internal node's children
have larger numbers, so every walk ends at a leaf.

Prediction follows scikit-learn's HistGradientBoosting predictor on raw
(unbinned) data, so a model gives the predictions the fitted scikit-learn
estimator gives (it walks every tree at once, in numpy, which is as fast
as scikit-learn's compiled predictor on large batches and far faster on
a few rows):

    raw(x) = baseline + sum over trees of the value of the leaf x reaches
    at an internal node on feature f:
      x_f is NaN                        -> the missing-values side
      numeric split:   x_f <= threshold -> left, else right
      categorical split:
        x_f < 0 or x_f >= 256           -> the missing-values side
        int(x_f) in the split's set     -> left
        int(x_f) a known category       -> right
        otherwise (unseen category)     -> the missing-values side
    prediction = raw (identity link) or 1 / (1 + exp(-raw)) (logit link)
"""

import dataclasses
import hashlib
import json
import math
import struct

import numpy as np
from scipy.special import expit

MAGIC = b"\x89CRTREE\n"
VERSION = 1
_PREFIX = struct.Struct("<8sII")
_SUM = hashlib.sha256().digest_size
LINKS = ("identity", "logit")
FLAG_LEAF, FLAG_MISSING_LEFT, FLAG_CATEGORICAL = 1, 2, 4
# Bytes per node in the payload: two f8 columns, four i4 columns, one u1.
_NODE_BYTES = 8 + 8 + 4 * 4 + 1
_BITSET_WORDS = 8
# Category codes are below 256 (scikit-learn's max_bins is at most 255).
CATEGORY_LIMIT = 32 * _BITSET_WORDS


@dataclasses.dataclass
class Tree:
    """One tree: per-node columns, and the left-category sets of its categorical splits."""
    value: np.ndarray       # f8, the leaf values
    threshold: np.ndarray   # f8, numeric splits go left when x <= threshold
    feature: np.ndarray     # i4
    left: np.ndarray        # i4
    right: np.ndarray       # i4
    bitset: np.ndarray      # i4, the row of bitsets of a categorical split
    flags: np.ndarray       # u1
    bitsets: np.ndarray     # u4, shape (splits, 8)

    @property
    def nodes(self):
        return self.value.shape[0]


@dataclasses.dataclass
class Ensemble:
    """A sum of trees through a link."""
    link: str
    baseline: float
    trees: list
    # known maps a categorical feature's index to its known categories, a
    # 256-bit set as 8 uint32 words.
    known: dict
    _forest: object = dataclasses.field(default=None, repr=False, compare=False)

    def forest(self, n_features):
        """The trees as one array of nodes (built once)."""
        if self._forest is None or self._forest.known_row.shape[0] != n_features:
            self._forest = _forest(self, n_features)
        return self._forest


def encode(meta, n_features, ensembles):
    """Return the bytes of ensembles over n_features columns, with the JSON-able dict meta."""
    header = {"meta": meta, "n_features": int(n_features), "ensembles": []}
    cols = {k: [] for k in ("value", "threshold", "feature", "left", "right", "bitset", "flags", "bitsets")}
    for e in ensembles:
        header["ensembles"].append({
            "link": e.link,
            "baseline": float(e.baseline),
            "known": {str(f): [int(w) for w in np.asarray(words, dtype=np.uint32)] for f, words in sorted(e.known.items())},
            "trees": [[t.nodes, int(np.asarray(t.bitsets).shape[0])] for t in e.trees],
        })
        for t in e.trees:
            for k in cols:
                cols[k].append(np.asarray(getattr(t, k)))
    dtypes = {"value": "<f8", "threshold": "<f8", "feature": "<i4", "left": "<i4", "right": "<i4",
              "bitset": "<i4", "bitsets": "<u4", "flags": "u1"}
    parts = []
    for k in ("value", "threshold", "feature", "left", "right", "bitset", "bitsets", "flags"):
        a = np.concatenate([c.reshape(-1) for c in cols[k]]) if cols[k] else np.empty(0)
        parts.append(np.ascontiguousarray(a, dtype=dtypes[k]).tobytes())
    payload = b"".join(parts)
    header["payload_bytes"] = len(payload)
    hb = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")
    body = _PREFIX.pack(MAGIC, VERSION, len(hb)) + hb + payload
    return body + hashlib.sha256(body).digest()


class _Reader:
    def __init__(self, payload):
        self.buf = payload
        self.off = 0

    def take(self, dtype, count):
        a = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.off).copy()
        self.off += a.nbytes
        return a


def decode(b):
    """Return (meta, n_features, ensembles) from bytes encode() wrote.

    Raises ValueError, naming the problem, for any bytes encode() did not
    write.
    """
    b = bytes(b)
    if len(b) < _PREFIX.size + _SUM or b[:len(MAGIC)] != MAGIC:
        raise ValueError("not a py-sklearn model (no tree-format signature)")
    _, version, hlen = _PREFIX.unpack_from(b)
    if version != VERSION:
        raise ValueError("tree format version %d; this plugin reads version %d" % (version, VERSION))
    body, digest = b[:-_SUM], b[-_SUM:]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("model bytes are damaged (checksum mismatch)")
    if _PREFIX.size + hlen > len(body):
        raise ValueError("model header runs past the end")
    try:
        header = json.loads(body[_PREFIX.size:_PREFIX.size + hlen].decode("utf-8"))
        meta, raw_ens, payload_bytes = header["meta"], header["ensembles"], header["payload_bytes"]
        n_features = header["n_features"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError("model header is malformed: %s" % e) from None
    payload = body[_PREFIX.size + hlen:]
    if not isinstance(meta, dict) or not isinstance(raw_ens, list) or payload_bytes != len(payload) \
            or not isinstance(n_features, int) or isinstance(n_features, bool) or n_features < 1:
        raise ValueError("model header is malformed: meta, n_features, ensembles or payload size")
    specs = [_ensemble_spec(e, i, n_features) for i, e in enumerate(raw_ens)]
    n = sum(nodes for s in specs for nodes, _ in s["trees"])
    nb = sum(bs for s in specs for _, bs in s["trees"])
    if n * _NODE_BYTES + nb * _BITSET_WORDS * 4 != len(payload):
        raise ValueError("model payload has %d bytes for %d nodes and %d category sets" % (len(payload), n, nb))
    r = _Reader(payload)
    cols = {"value": r.take("<f8", n), "threshold": r.take("<f8", n), "feature": r.take("<i4", n),
            "left": r.take("<i4", n), "right": r.take("<i4", n), "bitset": r.take("<i4", n)}
    bitsets = r.take("<u4", nb * _BITSET_WORDS).reshape(nb, _BITSET_WORDS)
    flags = r.take("u1", n)
    out = []
    node, bs = 0, 0
    for i, s in enumerate(specs):
        trees = []
        for j, (nodes, nbs) in enumerate(s["trees"]):
            t = Tree(flags=flags[node:node + nodes], bitsets=bitsets[bs:bs + nbs],
                     **{k: v[node:node + nodes] for k, v in cols.items()})
            _check_tree(t, n_features, s["known"], "ensemble %d, tree %d" % (i, j))
            trees.append(t)
            node, bs = node + nodes, bs + nbs
        out.append(Ensemble(link=s["link"], baseline=s["baseline"], trees=trees, known=s["known"]))
    return meta, n_features, out


def _ensemble_spec(e, i, n_features):
    where = "model ensemble %d" % i
    try:
        link, baseline, known, trees = e["link"], e["baseline"], e["known"], e["trees"]
    except (KeyError, TypeError):
        raise ValueError("%s is malformed" % where) from None
    if link not in LINKS:
        raise ValueError("%s: link %r, want one of %s" % (where, link, ", ".join(LINKS)))
    if not isinstance(baseline, (int, float)) or isinstance(baseline, bool) or not math.isfinite(baseline):
        raise ValueError("%s: baseline %r is not a finite number" % (where, baseline))
    if not isinstance(known, dict) or not isinstance(trees, list) or not trees:
        raise ValueError("%s: malformed categories or no trees" % where)
    sets = {}
    for f, words in known.items():
        if not f.isdigit() or int(f) >= n_features or not isinstance(words, list) or len(words) != _BITSET_WORDS \
                or not all(isinstance(w, int) and not isinstance(w, bool) and 0 <= w < 1 << 32 for w in words):
            raise ValueError("%s: malformed known categories of feature %r" % (where, f))
        sets[int(f)] = np.array(words, dtype=np.uint32)
    counts = []
    for t in trees:
        if not isinstance(t, list) or len(t) != 2 or not all(isinstance(c, int) and not isinstance(c, bool) for c in t) \
                or t[0] < 1 or t[1] < 0:
            raise ValueError("%s: malformed tree sizes %r" % (where, t))
        counts.append((t[0], t[1]))
    return {"link": link, "baseline": float(baseline), "known": sets, "trees": counts}


def _check_tree(t, n_features, known, where):
    idx = np.arange(t.nodes)
    leaf = (t.flags & FLAG_LEAF) != 0
    inner = ~leaf
    cat = (t.flags & FLAG_CATEGORICAL) != 0
    if (t.flags & ~np.uint8(FLAG_LEAF | FLAG_MISSING_LEFT | FLAG_CATEGORICAL)).any():
        raise ValueError("%s: unknown node flags" % where)
    if not np.isfinite(t.value[leaf]).all():
        raise ValueError("%s: a leaf value is not finite" % where)
    f = t.feature[inner]
    if ((f < 0) | (f >= n_features)).any():
        raise ValueError("%s: a split names a feature outside [0, %d)" % (where, n_features))
    for child in (t.left, t.right):
        c = child[inner]
        if ((c <= idx[inner]) | (c >= t.nodes)).any():
            raise ValueError("%s: a child is not a later node of the tree" % where)
    if np.isnan(t.threshold[inner & ~cat]).any():
        raise ValueError("%s: a numeric split has no threshold" % where)
    c = inner & cat
    b = t.bitset[c]
    if ((b < 0) | (b >= t.bitsets.shape[0])).any():
        raise ValueError("%s: a categorical split names a category set it lacks" % where)
    if not all(int(fi) in known for fi in np.unique(t.feature[c])):
        raise ValueError("%s: a categorical split on a feature without known categories" % where)


def _in_sets(sets, rows, codes):
    """Whether codes[i] is in the 256-bit set sets[rows[i]]."""
    words = sets[rows, codes >> 5]
    return ((words >> (codes & 31).astype(np.uint32)) & 1).astype(bool)


@dataclasses.dataclass
class _Forest:
    """An ensemble's trees as one array of nodes, for walking every tree at once."""
    roots: np.ndarray        # the index of each tree's root
    value: np.ndarray
    threshold: np.ndarray
    feature: np.ndarray
    children: np.ndarray     # (right, left) of each node, interleaved; indexes into the whole array
    leaf: np.ndarray
    missing_left: np.ndarray
    categorical: np.ndarray
    any_categorical: bool
    bitset: np.ndarray       # indexes into bitsets
    bitsets: np.ndarray      # (splits, 8)
    known_sets: np.ndarray   # (categorical features + 1, 8); row 0 is empty
    known_row: np.ndarray    # the row of known_sets of each feature


def _forest(e, n_features):
    sizes = np.array([t.nodes for t in e.trees], dtype=np.int64)
    roots = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    splits = np.array([t.bitsets.shape[0] for t in e.trees], dtype=np.int64)
    first_set = np.concatenate(([0], np.cumsum(splits)[:-1]))

    def cat(k, offsets=None):
        return np.concatenate([getattr(t, k).astype(np.int64) + (0 if offsets is None else offsets[i])
                               for i, t in enumerate(e.trees)])

    flags = np.concatenate([t.flags for t in e.trees])
    feats = sorted(e.known)
    known_sets = np.zeros((len(feats) + 1, _BITSET_WORDS), dtype=np.uint32)
    known_row = np.zeros(n_features, dtype=np.int64)
    for r, fi in enumerate(feats, start=1):
        known_sets[r] = e.known[fi]
        known_row[fi] = r
    return _Forest(
        roots=roots, value=np.concatenate([t.value for t in e.trees]).astype(np.float64),
        threshold=np.concatenate([t.threshold for t in e.trees]).astype(np.float64),
        feature=cat("feature"), children=np.column_stack((cat("right", roots), cat("left", roots))).ravel(),
        leaf=(flags & FLAG_LEAF) != 0, missing_left=(flags & FLAG_MISSING_LEFT) != 0,
        categorical=(flags & FLAG_CATEGORICAL) != 0, any_categorical=bool((flags & FLAG_CATEGORICAL).any()),
        bitset=cat("bitset", first_set),
        bitsets=np.concatenate([t.bitsets for t in e.trees]).reshape(-1, _BITSET_WORDS).astype(np.uint32),
        known_sets=known_sets, known_row=known_row)


# Rows walked at once: blocks of BLOCK_ROWS rows x every tree keep the
# arrays of a step in the cache-friendly hundreds of thousands.
BLOCK_ROWS = 2048


def _leaves(f, x):
    """The leaf each row of x reaches in each tree: shape (rows, trees)."""
    nb, nt = x.shape[0], f.roots.shape[0]
    xf = x.ravel()
    node = np.tile(f.roots, nb)
    # The offset in xf of each (row, tree) pair's row.
    base = np.repeat(np.arange(0, nb * x.shape[1], x.shape[1]), nt)
    active = np.flatnonzero(~f.leaf[node])
    while active.size:
        nd = node[active]
        feat = f.feature[nd]
        v = xf[base[active] + feat]
        go_left = v <= f.threshold[nd]
        if f.any_categorical:
            c = np.flatnonzero(f.categorical[nd])
            if c.size:
                vc, ndc = v[c], nd[c]
                ok = (vc >= 0) & (vc < CATEGORY_LIMIT)  # False for NaN
                code = np.where(ok, vc, 0).astype(np.int64)
                in_left = _in_sets(f.bitsets, f.bitset[ndc], code)
                known = _in_sets(f.known_sets, f.known_row[feat[c]], code)
                go_left[c] = np.where(ok & in_left, True, np.where(ok & known, False, f.missing_left[ndc]))
        missing = np.isnan(v)
        if missing.any():
            go_left[missing] = f.missing_left[nd[missing]]
        # children holds (right, left) of each node, side by side.
        nd = f.children[2 * nd + go_left]
        node[active] = nd
        active = active[~f.leaf[nd]]
    return node.reshape(nb, nt)


def predict(e, x):
    """Return the predictions of ensemble e for the rows of x (n x features).

    Every tree is walked at once over blocks of rows; the leaf values of a
    row are added in tree order after the baseline, as scikit-learn adds
    them, so the sums are the same to the last bit.
    """
    x = np.asarray(x, dtype=np.float64)
    f = e.forest(x.shape[1])
    raw = np.empty(x.shape[0], dtype=np.float64)
    for s in range(0, x.shape[0], BLOCK_ROWS):
        xb = x[s:s + BLOCK_ROWS]
        terms = np.empty((xb.shape[0], f.roots.shape[0] + 1), dtype=np.float64)
        terms[:, 0] = e.baseline
        terms[:, 1:] = f.value[_leaves(f, xb)]
        raw[s:s + BLOCK_ROWS] = np.add.accumulate(terms, axis=1)[:, -1]
    return expit(raw) if e.link == "logit" else raw
