"""How a Python plugin's errors reach the host.

Every method handler of the SDK runs inside guarded(), which turns what the
plugin raises into the gRPC status the Go SDK maps to its sentinel errors
(plugins/errors.go):

    ModelNotLoaded        NOT_FOUND          the host sends the request again
                                             with the model's bytes
    ValueError            INVALID_ARGUMENT   plugins.ErrInvalid: a bad
                                             parameter, malformed rows, bytes
                                             that are not a model of this
                                             plugin; not worth retrying
    NotImplementedError   UNIMPLEMENTED      plugins.ErrUnimplemented
    FitCancelled          CANCELLED          the client went away during a fit
                                             (nobody reads the status then)
    anything else         INTERNAL           plugins.ErrPlugin; the traceback
                                             goes to stderr, which the host logs

The status message is the error's message, so the host's error names the
problem in the plugin's own words.
"""

import traceback

import grpc


class ModelNotLoaded(Exception):
    """The plugin does not hold the model a request names by its digest."""


class FitCancelled(Exception):
    """The client of a fit went away (it cancelled, or its deadline passed).

    A fit's progress callback raises it, so that an estimator that reports
    its progress stops at its next report.
    """


def _abort(context, e, name):
    """End the call with the status of e (the table above)."""
    if isinstance(e, ModelNotLoaded):
        context.abort(grpc.StatusCode.NOT_FOUND, str(e))
    if isinstance(e, FitCancelled):
        context.abort(grpc.StatusCode.CANCELLED, str(e))
    if isinstance(e, ValueError):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
    if isinstance(e, NotImplementedError):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, str(e) or "not implemented by the plugin")
    traceback.print_exc()
    context.abort(grpc.StatusCode.INTERNAL, "%s: %s: %s" % (name, type(e).__name__, e))


def guarded(fn, name):
    """Wrap a gRPC method implementation fn(request, context) as above."""

    def call(req, context):
        try:
            return fn(req, context)
        except grpc.RpcError:
            raise
        except Exception as e:  # noqa: BLE001 - every failure must reach the host as a status
            _abort(context, e, name)

    return call


def guarded_stream(fn, name):
    """Wrap a response-streaming method implementation fn(request, context),
    a generator, as above: what it raises after any number of responses
    ends the call with the status of the table."""

    def call(req, context):
        try:
            yield from fn(req, context)
        except grpc.RpcError:
            raise
        except Exception as e:  # noqa: BLE001 - every failure must reach the host as a status
            _abort(context, e, name)

    return call
