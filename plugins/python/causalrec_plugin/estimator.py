"""The causalrec.plugin.v1.UpliftEstimator service for Python plugins.

An estimator is any object with four methods:

    info() -> EstimatorInfo
    fit(request: FitRequest[, progress]) -> FitResult
        progress, when fit() takes a parameter of that name, is a
        function progress(done, total): call it as the fit goes (total 0
        when it is not known), from any thread and as often as you like
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
FitStream
        Fit with progress reports (see "Fit progress" in docs/plugins.md):
        the header is answered at once with progress 0 of 0, before the
        rows arrive; then the rows are read and checked as Fit does, fit()
        runs in a thread of its own, and the handler sends its reports
        while it runs: the latest one, so a fit never waits for the network
        and reports made faster than they are sent are dropped, as are
        reports that would move done back at the same total. When fit()
        returns, a known total is reported done (a fit() without the
        progress parameter counts as one step: 0 of 0 at the header, 1 of 1
        at the end), and the result is the last message.
Predict the model travels by its sha256 digest. The handler keeps the
        decoded models of the last max_models digests used; for a digest it
        does not hold (the plugin restarted, or the model was evicted) it
        answers NOT_FOUND and the Go host sends the request again with the
        bytes. Bytes whose sha256 is not the digest sent with them are
        INVALID_ARGUMENT, as are bytes load() refuses.

When the client of a Fit or FitStream call goes away (it cancelled, or its
deadline passed), the progress callback raises FitCancelled, so a fit that
reports its progress stops at its next report (in a Fit call the callback
reports nothing and only does this). A fit that never calls it runs to its
end, and its result is dropped.

Errors map to gRPC codes as status.py says: ValueError is INVALID_ARGUMENT
with the error's message, NotImplementedError is UNIMPLEMENTED, anything
else INTERNAL; the same for Fit and FitStream. A result that breaks the
contract (the wrong number of effects, say) is INTERNAL with a message
naming the rule.

The module needs numpy (Debian's python3-numpy); the text scorer service
does not, which is why the package's __init__ does not import this module.
"""

import collections
import dataclasses
import hashlib
import inspect
import itertools
import math
import operator
import threading
import time
from typing import Optional

import grpc
import numpy as np

from . import log
from .gen.causalrec.plugin.v1 import plugin_pb2
from .status import FitCancelled, ModelNotLoaded, guarded, guarded_stream

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
    # model_only says the host uses only the fitted model (a cross-fitting
    # fold): what the fit computes only to report (an ATE, metadata) may be
    # left out.
    model_only: bool = False

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
        model_only=header.model_only,
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


def takes_progress(fit):
    """Whether fit, an estimator's fit method, takes the progress callback:
    a parameter named progress that can be passed by keyword, or **kwargs."""
    try:
        sig = inspect.signature(fit)
    except (TypeError, ValueError):
        return False
    for p in sig.parameters.values():
        if p.kind == p.VAR_KEYWORD:
            return True
        if p.name == "progress" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            return True
    return False


def _cancel_check(active):
    """The progress callback of a Fit call: it reports nothing, and raises
    FitCancelled once active() is false (the client went away)."""
    def progress(done, total):
        operator.index(done)  # integers only, as in a FitStream call
        operator.index(total)
        if not active():
            raise FitCancelled("the client went away")
    return progress


class FitProgress:
    """The progress of one FitStream call (the Go SDK's progressSender).

    The fit calls report(done, total) from its thread; the handler's
    thread takes each new state from updates() and sends it. Only the
    latest state is kept, so a fit never waits for the network and reports
    made faster than they are sent are dropped; a report that would move
    done back at the same total is dropped too, so the states go out in
    order. active() tells whether the client is still there: once it is
    not (or cancel() was called), report raises FitCancelled.
    """

    def __init__(self, active=lambda: True):
        self._active = active
        self._cond = threading.Condition()
        self._done = self._total = 0
        self._sent = True  # the current state was taken by updates()
        self._closed = False
        self._cancelled = False

    def report(self, done, total):
        """Record done of total steps (total 0 when not known)."""
        done, total = operator.index(done), operator.index(total)
        if self._cancelled or not self._active():
            self.cancel()
            raise FitCancelled("the client went away")
        self._set(done, total)

    def _set(self, done, total):
        with self._cond:
            if self._closed or (total == self._total and done <= self._done):
                return
            self._done, self._total, self._sent = done, total, False
            self._cond.notify_all()

    def finish(self, steps=0):
        """Report the fit complete: done is raised to a known total; with
        no total known and steps > 0, steps of steps are reported."""
        with self._cond:
            done, total = self._done, self._total
        if total > 0 and done < total:
            self._set(total, total)
        elif total <= 0 and steps > 0:
            self._set(steps, steps)

    def close(self):
        """End the reports; updates() gives the last state not yet taken and stops."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def cancel(self):
        """The client went away: updates() stops and report raises FitCancelled."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    @property
    def cancelled(self):
        return self._cancelled

    def updates(self, poll=1.0):
        """Yield each new (done, total) until close() or cancel().

        Every poll seconds without news it also asks active(), in case the
        call ended without the termination callback that calls cancel().
        active() is called without the lock held: gRPC may hold its own
        lock while it runs that callback, which takes this one.
        """
        while True:
            with self._cond:
                if self._sent and not self._closed and not self._cancelled:
                    self._cond.wait(poll)
                cancelled, closed, fresh = self._cancelled, self._closed, not self._sent
                state = (self._done, self._total)
                self._sent = True
            if cancelled:
                return
            if fresh:
                yield state
            if closed:
                return
            if not fresh and not self._active():
                self.cancel()


def _progress_event(done, total):
    return plugin_pb2.FitEvent(progress=plugin_pb2.FitProgress(done=done, total=total))


def _first_fit_message(messages):
    """The first message of a Fit stream, which must carry the header."""
    first = next(messages, None)
    if first is None:
        raise ValueError("empty Fit stream")
    if not first.HasField("header"):
        raise ValueError("the first Fit message must carry the header")
    return first


class _Handler:
    def __init__(self, estimator, name, max_models):
        self.est = estimator
        self.name = name
        self.models = ModelRegistry(max_models)
        self.takes_progress = takes_progress(estimator.fit)

    def info(self, _req, _context):
        return info_to_proto(_check_info(self.est.info()))

    def _fit(self, req, progress, start):
        """Call fit(), load and keep its model, and return the FitResponse."""
        if self.takes_progress:
            res = self.est.fit(req, progress=progress)
        else:
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

    def fit(self, messages, context):
        info = _check_info(self.est.info())
        start = time.monotonic()
        req = read_fit_stream(messages, info)
        try:
            return self._fit(req, _cancel_check(context.is_active), start)
        except FitCancelled:
            self._log_cancelled(req, start)
            raise

    @staticmethod
    def _log_cancelled(req, start):
        log.info("fit cancelled: the client went away", estimator=req.estimator, rows=req.rows,
                 seconds=round(time.monotonic() - start, 3))

    def fit_stream(self, messages, context):
        info = _check_info(self.est.info())
        start = time.monotonic()
        first = _first_fit_message(messages)
        yield _progress_event(0, 0)
        req = read_fit_stream(itertools.chain((first,), messages), info)
        progress = FitProgress(context.is_active)
        context.add_callback(progress.cancel)
        outcome = {}

        def run():
            try:
                outcome["result"] = self._fit(req, progress.report, start)
                progress.finish(steps=0 if self.takes_progress else 1)
            except FitCancelled as e:
                # Logged here: gRPC may have dropped the handler already.
                self._log_cancelled(req, start)
                outcome["error"] = e
            except BaseException as e:  # noqa: BLE001 - handed to the handler's thread
                outcome["error"] = e
            finally:
                progress.close()

        worker = threading.Thread(target=run, name=self.name + "-fit", daemon=True)
        worker.start()
        try:
            for done, total in progress.updates():
                yield _progress_event(done, total)
        except BaseException:
            # gRPC closed this generator: the client went away. The fit
            # stops at its next report.
            progress.cancel()
            raise
        worker.join()
        err = outcome.get("error")
        if err is None and progress.cancelled:
            # The fit ended without a report after the client went away.
            self._log_cancelled(req, start)
            err = FitCancelled("the client went away")
        if err is not None:
            raise err
        yield plugin_pb2.FitEvent(result=outcome["result"])

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
        "FitStream": grpc.stream_stream_rpc_method_handler(
            guarded_stream(h.fit_stream, name),
            request_deserializer=plugin_pb2.FitRequest.FromString,
            response_serializer=plugin_pb2.FitEvent.SerializeToString),
        "Predict": grpc.unary_unary_rpc_method_handler(
            guarded(h.predict, name),
            request_deserializer=plugin_pb2.PredictRequest.FromString,
            response_serializer=plugin_pb2.PredictResponse.SerializeToString),
    })
