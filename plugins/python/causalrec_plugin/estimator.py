"""The causalrec.plugin.v1.UpliftEstimator service for Python plugins.

An estimator is any object with four methods:

    info() -> EstimatorInfo
    fit(request: FitRequest) -> FitResult
    load(model: bytes) -> object
        decode a model that fit() wrote; raise ValueError for any bytes
        this plugin did not write (they come back from the host's store)
    predict(model: object, x: numpy.ndarray, interval_level: float) -> Prediction
        model is what load() returned; x has shape (rows, features)

estimator_handler(estimator) turns it into a gRPC handler for serve(). It
does for a Python estimator what the Go SDK's plugins.EstimatorPlugin does
for a Go one:

Fit     reads the stream (a header, then chunks of rows), checks that the
        columns agree with the header and the arms are in range, checks the
        estimator name and the parameters against info() (FitRequest.values
        holds them typed, with the defaults filled in), and calls fit(). The
        model fit() returns is loaded at once and kept, so a fit that
        cannot be read back fails here and the Predict calls after it need
        not carry the model's bytes.
Predict the model travels by its sha256 digest. The handler keeps the
        decoded models of the last max_models digests used; for a digest it
        does not hold (the plugin restarted, or the model was evicted) it
        answers NOT_FOUND and the Go host sends the request again with the
        bytes. Bytes whose sha256 is not the digest sent with them are
        INVALID_ARGUMENT, as are bytes load() refuses.

Errors map to gRPC codes as status.py says: ValueError is INVALID_ARGUMENT
with the error's message, NotImplementedError is UNIMPLEMENTED, anything
else INTERNAL. A result that breaks the contract (the wrong number of
effects, say) is INTERNAL with a message naming the rule.

The module needs numpy (Debian's python3-numpy); the text scorer service
does not, which is why the package's __init__ does not import this module.
"""

import collections
import dataclasses
import hashlib
import math
import threading
import time
from typing import Optional

import grpc
import numpy as np

from . import log
from .gen.causalrec.plugin.v1 import plugin_pb2
from .status import ModelNotLoaded, guarded

SERVICE = "causalrec.plugin.v1.UpliftEstimator"

# The capabilities an estimator may report (EstimatorInfoResponse.capabilities).
CAPABILITIES = ("multi_arm", "categorical", "weights", "propensity", "intervals")
# The parameter types of ParamSpec.type.
PARAM_TYPES = ("int", "float", "string", "bool", "enum")
# How many decoded models the handler keeps, like the Go SDK's server.
DEFAULT_MAX_MODELS = 8


@dataclasses.dataclass
class Param:
    """One parameter the plugin's estimators accept (ParamSpec).

    default is the value's text when the fit request does not set it; ""
    means no default (FitRequest.values holds None).
    """
    name: str
    type: str
    default: str = ""
    description: str = ""
    allowed: tuple = ()


@dataclasses.dataclass
class EstimatorInfo:
    """What info() returns (EstimatorInfoResponse)."""
    name: str
    version: str
    estimators: list
    capabilities: list = dataclasses.field(default_factory=list)
    params: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Feature:
    """One feature column. Categorical values are level indexes 0, 1, ... into levels."""
    name: str
    categorical: bool
    levels: list


@dataclasses.dataclass
class FitRequest:
    """The training data and settings of one fit."""
    estimator: str
    # params is what the host sent, as text; values the same typed by the
    # plugin's Param list, with defaults for what was not sent.
    params: dict
    values: dict
    features: list
    # arms names the arms; arms[0] is control.
    arms: list
    seed: int
    # x has shape (rows, len(features)); arm holds each row's index into
    # arms; weight and propensity are None unless the host sent them.
    x: np.ndarray
    arm: np.ndarray
    outcome: np.ndarray
    weight: Optional[np.ndarray] = None
    propensity: Optional[np.ndarray] = None

    @property
    def rows(self):
        return self.arm.shape[0]


@dataclasses.dataclass
class FitResult:
    """A fitted model: the bytes the host stores and hands back to load()."""
    model: bytes
    metadata: dict = dataclasses.field(default_factory=dict)
    # ate and ate_se give, per treated arm, the average effect and its
    # standard error when the estimator reports them.
    ate: list = dataclasses.field(default_factory=list)
    ate_se: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Prediction:
    """Effects of the treated arms: effects has shape (rows, len(arms)).

    lower and upper, of the same shape, are the interval's bounds when an
    interval was asked for and the estimator gives them.
    """
    effects: np.ndarray
    arms: list
    lower: Optional[np.ndarray] = None
    upper: Optional[np.ndarray] = None


def _parse_value(p, raw):
    what = "parameter %s=%s" % (p.name, raw)
    if p.type == "string":
        return raw
    if raw == "":
        raise ValueError("%s: empty value" % what)
    if p.type == "int":
        try:
            return int(raw, 10)
        except ValueError:
            raise ValueError("%s: not an integer" % what) from None
    if p.type == "float":
        try:
            v = float(raw)
        except ValueError:
            raise ValueError("%s: not a number" % what) from None
        if not math.isfinite(v):
            raise ValueError("%s: not a finite number" % what)
        return v
    if p.type == "bool":
        low = raw.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise ValueError("%s: want true or false" % what)
    if p.type == "enum":
        if raw not in p.allowed:
            raise ValueError("%s: want one of %s" % (what, ", ".join(p.allowed)))
        return raw
    raise RuntimeError("parameter %s has type %r, not one of %s" % (p.name, p.type, ", ".join(PARAM_TYPES)))


def parse_params(estimator, specs, given):
    """Return given (name -> text) typed by specs (Param values).

    Every parameter of specs is in the result: its parsed value, else its
    parsed default, else None. A name not in specs, or a value that does
    not parse as its type, raises ValueError naming it.
    """
    by_name = {p.name: p for p in specs}
    for name in sorted(given):
        if name not in by_name:
            takes = ", ".join(sorted(by_name)) or "none"
            raise ValueError('estimator %s does not take parameter "%s" (it takes: %s)' % (estimator, name, takes))
    out = {}
    for p in specs:
        if p.name in given:
            out[p.name] = _parse_value(p, given[p.name])
        elif p.default != "" or p.type == "string":
            out[p.name] = _parse_value(p, p.default)
        else:
            out[p.name] = None
    return out


def _check_info(info):
    if not isinstance(info, EstimatorInfo):
        raise TypeError("info() returned %s, want EstimatorInfo" % type(info).__name__)
    if not info.name or not info.estimators:
        raise RuntimeError("info() names no plugin or no estimators")
    for c in info.capabilities:
        if c not in CAPABILITIES:
            raise RuntimeError("info(): unknown capability %r (known: %s)" % (c, ", ".join(CAPABILITIES)))
    for p in info.params:
        if p.type not in PARAM_TYPES:
            raise RuntimeError("info(): parameter %s has type %r, not one of %s" % (p.name, p.type, ", ".join(PARAM_TYPES)))
    return info


def info_to_proto(info):
    """Convert an EstimatorInfo to its message."""
    out = plugin_pb2.EstimatorInfoResponse(
        name=info.name, version=info.version, estimators=list(info.estimators),
        capabilities=list(info.capabilities))
    for p in info.params:
        out.params.add(name=p.name, type=p.type, default_value=p.default,
                       description=p.description, allowed=list(p.allowed))
    return out


def _doubles(values):
    return np.fromiter(values, dtype=np.float64, count=len(values))


def read_fit_stream(messages, info):
    """Read a Fit stream (FitRequest messages) into a FitRequest.

    Raises ValueError for a stream that breaks the contract: no header
    first, chunks whose columns disagree with the header, arms out of
    range, fewer than two arms, no features, an estimator info() does not
    list, or parameters that do not parse.
    """
    header = None
    d = 0
    xs, arms, ys, ws, ps = [], [], [], [], []
    for msg in messages:
        if header is None:
            if not msg.HasField("header"):
                raise ValueError("the first Fit message must carry the header")
            header = msg.header
            d = len(header.features)
        if not msg.HasField("rows"):
            continue
        c = msg.rows
        n = len(c.arm)
        if len(c.features) != n * d:
            raise ValueError("chunk has %d feature values for %d rows of %d features" % (len(c.features), n, d))
        if len(c.outcome) != n:
            raise ValueError("chunk has %d outcomes for %d rows" % (len(c.outcome), n))
        if header.has_weights and len(c.weight) != n:
            raise ValueError("chunk has %d weights for %d rows" % (len(c.weight), n))
        if header.has_propensity and len(c.propensity) != n:
            raise ValueError("chunk has %d propensities for %d rows" % (len(c.propensity), n))
        xs.append(_doubles(c.features))
        arms.append(np.fromiter(c.arm, dtype=np.int64, count=n))
        ys.append(_doubles(c.outcome))
        if header.has_weights:
            ws.append(_doubles(c.weight))
        if header.has_propensity:
            ps.append(_doubles(c.propensity))
    if header is None:
        raise ValueError("empty Fit stream")
    if len(header.arms) < 2:
        raise ValueError("need a control arm and at least one treated arm, got %d arms" % len(header.arms))
    if d == 0:
        raise ValueError("no features")

    def cat(parts, dtype=np.float64):
        return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

    arm = cat(arms, np.int64)
    bad = np.flatnonzero((arm < 0) | (arm >= len(header.arms)))
    if bad.size:
        i = int(bad[0])
        raise ValueError("row %d: arm index %d out of range [0,%d)" % (i, arm[i], len(header.arms)))
    if header.estimator not in info.estimators:
        raise ValueError('unknown estimator "%s" (plugin %s fits: %s)' % (
            header.estimator, info.name, ", ".join(info.estimators)))
    params = dict(header.params)
    return FitRequest(
        estimator=header.estimator,
        params=params,
        values=parse_params(header.estimator, info.params, params),
        features=[Feature(f.name, f.kind == plugin_pb2.FEATURE_KIND_CATEGORICAL, list(f.levels)) for f in header.features],
        arms=list(header.arms),
        seed=header.seed,
        x=cat(xs).reshape(-1, d),
        arm=arm,
        outcome=cat(ys),
        weight=cat(ws) if header.has_weights else None,
        propensity=cat(ps) if header.has_propensity else None,
    )


class ModelRegistry:
    """Decoded models by sha256 digest, the max_models most recently used."""

    def __init__(self, max_models=DEFAULT_MAX_MODELS):
        if max_models < 1:
            raise ValueError("max_models %d: want at least 1" % max_models)
        self._max = max_models
        self._lock = threading.Lock()
        self._models = collections.OrderedDict()

    def get(self, digest):
        with self._lock:
            m = self._models.get(digest)
            if m is not None:
                self._models.move_to_end(digest)
            return m

    def put(self, digest, model):
        with self._lock:
            self._models[digest] = model
            self._models.move_to_end(digest)
            while len(self._models) > self._max:
                self._models.popitem(last=False)

    def __len__(self):
        with self._lock:
            return len(self._models)


def _short(digest):
    return digest[:8].hex()


class _Handler:
    def __init__(self, estimator, name, max_models):
        self.est = estimator
        self.name = name
        self.models = ModelRegistry(max_models)

    def info(self, _req, _context):
        return info_to_proto(_check_info(self.est.info()))

    def fit(self, messages, _context):
        info = _check_info(self.est.info())
        start = time.monotonic()
        req = read_fit_stream(messages, info)
        res = self.est.fit(req)
        if not isinstance(res, FitResult):
            raise TypeError("fit() returned %s, want FitResult" % type(res).__name__)
        model = bytes(res.model)
        if not model:
            raise RuntimeError("fit() returned an empty model")
        digest = hashlib.sha256(model).digest()
        try:
            self.models.put(digest, self.est.load(model))
        except ValueError as e:
            raise RuntimeError("fit() returned a model that load() refuses: %s" % e) from e
        log.info("model fitted", estimator=req.estimator, rows=req.rows, features=req.x.shape[1],
                 bytes=len(model), digest=_short(digest), seconds=round(time.monotonic() - start, 3))
        return plugin_pb2.FitResponse(
            model=model, metadata={str(k): str(v) for k, v in res.metadata.items()},
            ate=[float(v) for v in res.ate], ate_se=[float(v) for v in res.ate_se])

    def _model(self, req):
        if req.model_bytes:
            digest = hashlib.sha256(req.model_bytes).digest()
            if req.model_digest and req.model_digest != digest:
                raise ValueError("model digest does not match the model bytes")
            m = self.models.get(digest)
            if m is None:
                m = self.est.load(req.model_bytes)
                self.models.put(digest, m)
                log.info("model loaded from the request", digest=_short(digest), bytes=len(req.model_bytes))
            return m
        if len(req.model_digest) != hashlib.sha256().digest_size:
            raise ValueError("neither model bytes nor a %d-byte model digest" % hashlib.sha256().digest_size)
        m = self.models.get(req.model_digest)
        if m is None:
            log.debug("model not held; the host resends it", digest=_short(req.model_digest))
            raise ModelNotLoaded("model not loaded: digest %s" % _short(req.model_digest))
        return m

    def predict(self, req, _context):
        d, nvals = req.n_features, len(req.features)
        if d <= 0 or nvals % d != 0:
            raise ValueError("%d values are not rows of %d features" % (nvals, d))
        level = req.interval_level
        if not level < 1:  # NaN too
            raise ValueError("interval level %r is not in (0, 1)" % level)
        model = self._model(req)
        x = _doubles(req.features).reshape(-1, d)
        pred = self.est.predict(model, x, max(level, 0.0))
        if not isinstance(pred, Prediction):
            raise TypeError("predict() returned %s, want Prediction" % type(pred).__name__)
        rows, k = x.shape[0], len(pred.arms)
        eff = np.asarray(pred.effects, dtype=np.float64)
        if k == 0 or eff.shape != (rows, k):
            raise RuntimeError("predict() returned effects of shape %s for %d rows of %d arms" % (eff.shape, rows, k))
        resp = plugin_pb2.PredictResponse(arms=[str(a) for a in pred.arms])
        resp.effects.extend(eff.ravel())
        if level > 0 and pred.lower is not None and pred.upper is not None:
            lo = np.asarray(pred.lower, dtype=np.float64)
            hi = np.asarray(pred.upper, dtype=np.float64)
            if lo.shape != eff.shape or hi.shape != eff.shape:
                raise RuntimeError("predict() returned bounds of shapes %s and %s for effects of shape %s" % (
                    lo.shape, hi.shape, eff.shape))
            resp.lower.extend(lo.ravel())
            resp.upper.extend(hi.ravel())
        return resp


def estimator_handler(estimator, name="plugin", max_models=DEFAULT_MAX_MODELS):
    """Return the grpc.GenericRpcHandler serving estimator as an UpliftEstimator."""
    h = _Handler(estimator, name, max_models)
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Info": grpc.unary_unary_rpc_method_handler(
            guarded(h.info, name),
            request_deserializer=plugin_pb2.EstimatorInfoRequest.FromString,
            response_serializer=plugin_pb2.EstimatorInfoResponse.SerializeToString),
        "Fit": grpc.stream_unary_rpc_method_handler(
            guarded(h.fit, name),
            request_deserializer=plugin_pb2.FitRequest.FromString,
            response_serializer=plugin_pb2.FitResponse.SerializeToString),
        "Predict": grpc.unary_unary_rpc_method_handler(
            guarded(h.predict, name),
            request_deserializer=plugin_pb2.PredictRequest.FromString,
            response_serializer=plugin_pb2.PredictResponse.SerializeToString),
    })
