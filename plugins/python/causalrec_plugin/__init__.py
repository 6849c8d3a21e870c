"""causalrec_plugin: write causalrec plugins in Python.

The host (Go, hashicorp/go-plugin over gRPC) cannot tell these plugins from
Go ones: they speak the same handshake, the same health check and the same
contract, proto/causalrec/plugin/v1/plugin.proto, whose message classes are
generated into causalrec_plugin/gen (see plugins/python/README.md).

    from causalrec_plugin import serve, text_scorer_handler
    sys.exit(serve([text_scorer_handler(MyScorer())], name="my-scorer"))
"""

from .server import (  # noqa: F401
    APP_PROTOCOL_VERSION,
    CORE_PROTOCOL_VERSION,
    HEALTH_SERVICE,
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    MAX_MESSAGE_BYTES,
    HandshakeError,
    negotiate_version,
    serve,
)
from .textscorer import check_text, text_scorer_handler  # noqa: F401
from .gen.causalrec.plugin.v1 import plugin_pb2  # noqa: F401
