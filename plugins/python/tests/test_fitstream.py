"""Unit tests of the SDK's FitStream and of the progress callback, over a
real gRPC server and channel in this process.

Run by the Go test TestPythonUnitTests, or from plugins/python:

    OMP_NUM_THREADS=1 python3 -B -m unittest discover -s tests -p 'test_*.py'
"""

import os
import sys
import threading
import time
import unittest
from concurrent import futures

_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _root)

import grpc  # noqa: E402

from causalrec_plugin.estimator import (  # noqa: E402
    EstimatorInfo, FitCancelled, FitProgress, FitResult, estimator_handler, takes_progress)
from causalrec_plugin.gen.causalrec.plugin.v1 import plugin_pb2 as pb  # noqa: E402

_METHOD = "/causalrec.plugin.v1.UpliftEstimator/"


class _Estimator:
    """An estimator whose fit() is the function given."""

    def __init__(self, fit):
        self.fit = fit

    def info(self):
        return EstimatorInfo(name="test", version="1", estimators=["t"])

    def load(self, model):
        return model

    def predict(self, model, x, interval_level):
        raise NotImplementedError


def _requests(rows=4):
    yield pb.FitRequest(header=pb.FitHeader(estimator="t", arms=["c", "t"], features=[pb.Feature(name="x")]))
    yield pb.FitRequest(rows=pb.RowChunk(features=[float(i) for i in range(rows)], arm=[i % 2 for i in range(rows)],
                                         outcome=[0.0] * rows))


class _Server:
    def __init__(self, fit):
        self.server = grpc.server(futures.ThreadPoolExecutor(4), handlers=[estimator_handler(_Estimator(fit), "test")])
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % port)
        self.fit_stream = self.channel.stream_stream(
            _METHOD + "FitStream", request_serializer=pb.FitRequest.SerializeToString,
            response_deserializer=pb.FitEvent.FromString)
        self.fit = self.channel.stream_unary(
            _METHOD + "Fit", request_serializer=pb.FitRequest.SerializeToString,
            response_deserializer=pb.FitResponse.FromString)

    def close(self):
        self.channel.close()
        self.server.stop(None)


def _split(events):
    """The (done, total) reports of a FitStream answer and its result."""
    reports, result = [], None
    for ev in events:
        if result is not None:
            raise AssertionError("an event after the result: %s" % ev)
        if ev.HasField("progress"):
            reports.append((ev.progress.done, ev.progress.total))
        else:
            result = ev.result
    return reports, result


class FitStreamTest(unittest.TestCase):
    def serve(self, fit):
        s = _Server(fit)
        self.addCleanup(s.close)
        return s

    def check_order(self, reports):
        self.assertEqual(reports[0], (0, 0), "the header's answer")
        for a, b in zip(reports, reports[1:]):
            if a[1] == b[1]:
                self.assertGreater(b[0], a[0], "reports %s: done falls or repeats" % reports)

    def test_no_progress_parameter(self):
        def fit(req):
            return FitResult(model=b"model", metadata={"rows": req.rows})
        s = self.serve(fit)
        reports, result = _split(s.fit_stream(_requests()))
        self.assertEqual(reports, [(0, 0), (1, 1)])
        self.assertEqual(result.model, b"model")
        self.assertEqual(result.metadata["rows"], "4")
        # Fit still works.
        self.assertEqual(s.fit(_requests()).model, b"model")

    def test_many_reports_in_order(self):
        n = 5000

        def fit(req, progress):
            for i in range(n - 1):  # the last step is reported by the SDK
                progress(i, n)
            return FitResult(model=b"m")
        reports, result = _split(self.serve(fit).fit_stream(_requests()))
        self.check_order(reports)
        self.assertEqual(reports[-1], (n, n))
        self.assertEqual(result.model, b"m")

    def test_backwards_reports_are_dropped(self):
        def fit(req, progress=None):
            progress(5, 10)
            time.sleep(0.2)
            progress(3, 10)  # dropped
            progress(2, 0)   # a new total
            time.sleep(0.2)
            progress(1, 4)
            return FitResult(model=b"m")
        reports, _ = _split(self.serve(fit).fit_stream(_requests()))
        self.check_order(reports)
        self.assertNotIn((3, 10), reports)
        self.assertEqual(reports[-1], (4, 4))

    def test_errors_keep_their_codes(self):
        def invalid(req, progress):
            progress(1, 3)
            raise ValueError("parameter x: bad")

        def broken(req, progress):
            raise KeyError("oops")

        def empty(req, progress):
            return FitResult(model=b"")
        for fit, code, text in ((invalid, grpc.StatusCode.INVALID_ARGUMENT, "parameter x: bad"),
                                (broken, grpc.StatusCode.INTERNAL, "KeyError"),
                                (empty, grpc.StatusCode.INTERNAL, "empty model")):
            with self.subTest(fit=fit.__name__):
                events = self.serve(fit).fit_stream(_requests())
                first = next(events)
                self.assertEqual((first.progress.done, first.progress.total), (0, 0))
                with self.assertRaises(grpc.RpcError) as cm:
                    _split(events)
                self.assertEqual(cm.exception.code(), code)
                self.assertIn(text, cm.exception.details())

    def test_stream_errors(self):
        s = self.serve(lambda req: FitResult(model=b"m"))
        bad_arm = [pb.FitRequest(header=pb.FitHeader(estimator="t", arms=["c", "t"], features=[pb.Feature(name="x")])),
                   pb.FitRequest(rows=pb.RowChunk(features=[1.0], arm=[2], outcome=[0.0]))]
        for name, msgs, text in (("empty", [], "empty Fit stream"),
                                 ("no header", [pb.FitRequest(rows=pb.RowChunk())], "must carry the header"),
                                 ("arm out of range", bad_arm, "arm index 2 out of range")):
            with self.subTest(name):
                with self.assertRaises(grpc.RpcError) as cm:
                    _split(s.fit_stream(iter(msgs)))
                self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
                self.assertIn(text, cm.exception.details())

    def cancelled_fit(self):
        """A fit that reports until its client goes away; stopped is set
        when the callback raised FitCancelled."""
        started, stopped = threading.Event(), threading.Event()

        def fit(req, progress):
            started.set()
            try:
                for i in range(600):
                    progress(i, 600)
                    time.sleep(0.05)
            except FitCancelled:
                stopped.set()
                raise
            return FitResult(model=b"m")
        return fit, started, stopped

    def test_client_goes_away(self):
        fit, started, stopped = self.cancelled_fit()
        events = self.serve(fit).fit_stream(_requests())
        next(events)
        self.assertTrue(started.wait(10))
        events.cancel()
        self.assertTrue(stopped.wait(10), "the fit did not stop when its client went away")

    def test_fit_deadline(self):
        fit, started, stopped = self.cancelled_fit()
        with self.assertRaises(grpc.RpcError) as cm:
            self.serve(fit).fit(_requests(), timeout=2)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertTrue(started.is_set(), "the fit did not start within the deadline")
        self.assertTrue(stopped.wait(10), "the Fit call's fit did not stop after its deadline")


class ProgressTest(unittest.TestCase):
    def test_takes_progress(self):
        class E:
            def plain(self, req):
                pass

            def named(self, req, progress=None):
                pass

            def keyword(self, req, *, progress):
                pass

            def kwargs(self, req, **kw):
                pass

            def positional_only(self, req, progress, /):
                pass
        e = E()
        for fn, want in ((e.plain, False), (e.named, True), (e.keyword, True), (e.kwargs, True),
                         (e.positional_only, False)):
            with self.subTest(fn.__name__):
                self.assertEqual(takes_progress(fn), want)

    def test_latest_state_wins(self):
        p = FitProgress()
        for i in range(1, 100):
            p.report(i, 100)
        p.finish()
        p.close()
        self.assertEqual(list(p.updates(poll=0.01)), [(100, 100)])

    def test_report_wants_integers(self):
        with self.assertRaises(TypeError):
            FitProgress().report(1.5, 3)

    def test_cancel(self):
        p = FitProgress()
        p.cancel()
        with self.assertRaises(FitCancelled):
            p.report(1, 2)
        self.assertEqual(list(p.updates(poll=0.01)), [])
        gone = FitProgress(active=lambda: False)
        with self.assertRaises(FitCancelled):
            gone.report(0, 1)


if __name__ == "__main__":
    unittest.main()
