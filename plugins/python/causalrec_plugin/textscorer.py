"""The causalrec.plugin.v1.TextScorer service for Python plugins.

A scorer is any object with two methods:

    info() -> plugin_pb2.TextScorerInfoResponse
    score(request: plugin_pb2.ScoreRequest) -> plugin_pb2.ScoreResponse

text_scorer_handler(scorer) turns it into a gRPC handler for serve(). The
handler enforces the contract's one hard rule, one score per request item
in request order, and maps Python errors to gRPC codes the Go host
understands (see status.py): ValueError is INVALID_ARGUMENT
(plugins.ErrInvalid), any other exception is INTERNAL (plugins.ErrPlugin),
both with the error's message. Problems with a single item belong in that
item's TextScore.error.
"""

import grpc

from .gen.causalrec.plugin.v1 import plugin_pb2
from .status import guarded

SERVICE = "causalrec.plugin.v1.TextScorer"


def check_text(text, max_bytes):
    """Return the per-item error for a text that cannot be scored, or "".

    The messages match the Go SDK's plugins.CheckText. Texts arrive as
    Python str, so they are valid UTF-8 already (the host does not send
    invalid ones); max_bytes <= 0 means no limit.
    """
    if text == "":
        return "empty text"
    if max_bytes > 0:
        n = len(text.encode("utf-8"))
        if n > max_bytes:
            return "text is %d bytes, over the limit of %d" % (n, max_bytes)
    return ""


def text_scorer_handler(scorer, name="plugin"):
    """Return the grpc.GenericRpcHandler serving scorer as a TextScorer."""

    def info(_req, _context):
        resp = scorer.info()
        if not isinstance(resp, plugin_pb2.TextScorerInfoResponse):
            raise TypeError("info() returned %s, want TextScorerInfoResponse" % type(resp).__name__)
        return resp

    def score(req, _context):
        resp = scorer.score(req)
        if not isinstance(resp, plugin_pb2.ScoreResponse):
            raise TypeError("score() returned %s, want ScoreResponse" % type(resp).__name__)
        if len(resp.scores) != len(req.items):
            raise RuntimeError("scorer returned %d scores for %d items" % (len(resp.scores), len(req.items)))
        return resp

    return grpc.method_handlers_generic_handler(SERVICE, {
        "Info": grpc.unary_unary_rpc_method_handler(
            guarded(info, name),
            request_deserializer=plugin_pb2.TextScorerInfoRequest.FromString,
            response_serializer=plugin_pb2.TextScorerInfoResponse.SerializeToString),
        "Score": grpc.unary_unary_rpc_method_handler(
            guarded(score, name),
            request_deserializer=plugin_pb2.ScoreRequest.FromString,
            response_serializer=plugin_pb2.ScoreResponse.SerializeToString),
    })
