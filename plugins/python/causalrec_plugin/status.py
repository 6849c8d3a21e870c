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
    anything else         INTERNAL           plugins.ErrPlugin; the traceback
                                             goes to stderr, which the host logs

The status message is the error's message, so the host's error names the
problem in the plugin's own words.
"""

import traceback

import grpc


class ModelNotLoaded(Exception):
    """The plugin does not hold the model a request names by its digest."""


def guarded(fn, name):
    """Wrap a gRPC method implementation fn(request, context) as above."""

    def call(req, context):
        try:
            return fn(req, context)
        except grpc.RpcError:
            raise
        except ModelNotLoaded as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except ValueError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        except NotImplementedError as e:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, str(e) or "not implemented by the plugin")
        except Exception as e:  # noqa: BLE001 - every failure must reach the host as a status
            traceback.print_exc()
            context.abort(grpc.StatusCode.INTERNAL, "%s: %s: %s" % (name, type(e).__name__, e))

    return call
