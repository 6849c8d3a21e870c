"""The go-plugin side of a causalrec plugin written in Python.

serve() does what hashicorp/go-plugin's Serve does for a Go plugin:

1. refuses to run unless CAUSALREC_PLUGIN holds the magic cookie;
2. negotiates the app protocol: the host lists the versions it speaks in
   PLUGIN_PROTOCOL_VERSIONS, and this SDK speaks version 1 only;
3. listens on 127.0.0.1 on a free port (within PLUGIN_MIN_PORT and
   PLUGIN_MAX_PORT when the host sets them);
4. when the host sends its certificate in PLUGIN_CLIENT_CERT (AutoMTLS),
   serves TLS with a fresh self-signed certificate and requires the host's
   certificate from every client; otherwise serves plaintext;
5. serves the plugin's services plus grpc.health.v1.Health (service
   "plugin" is SERVING), plugin.GRPCController (Shutdown) and
   plugin.GRPCStdio (an empty stream: the plugin logs to stderr, which the
   host reads directly);
6. prints the handshake line
       CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|NETWORK-TYPE|NETWORK-ADDR|PROTOCOL|SERVER-CERT
   e.g. 1|1|tcp|127.0.0.1:40123|grpc|MIIB... to stdout and nothing else;
7. runs until the host calls Shutdown, SIGTERM arrives, the parent process
   dies, or (when asked) stdin reaches end of file; then stops gracefully
   and returns exit status 0.

SIGINT is ignored, as go-plugin's Go servers do: Ctrl-C in a terminal
reaches the whole process group, and the host decides when its plugins go.
"""

import base64
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

from . import tlscert
from .gen import goplugin_pb2, health_pb2

CORE_PROTOCOL_VERSION = 1
# APP_PROTOCOL_VERSION is the causalrec plugin protocol, the version suffix
# of the proto package causalrec.plugin.v1 (plugins.ProtocolVersion in Go).
APP_PROTOCOL_VERSION = 1
MAGIC_COOKIE_KEY = "CAUSALREC_PLUGIN"
MAGIC_COOKIE_VALUE = "b4c9e1f2-causalrec-plugin"
# MAX_MESSAGE_BYTES matches plugins.MaxMessageBytes.
MAX_MESSAGE_BYTES = 512 << 20
# HEALTH_SERVICE is the service name go-plugin's Ping checks.
HEALTH_SERVICE = "plugin"

_NOT_A_PROGRAM = (
    "This program is a causalrec plugin. It is not meant to be run by hand:\n"
    "list it in the host's plugin configuration and the host starts it.\n")


class HandshakeError(Exception):
    """The host and the plugin cannot agree on how to talk."""


def negotiate_version(env):
    """Return the app protocol version to speak, given the host's environment.

    A host that sends no PLUGIN_PROTOCOL_VERSIONS (an old go-plugin) is
    assumed to speak the handshake's version.
    """
    raw = env.get("PLUGIN_PROTOCOL_VERSIONS", "")
    if raw == "":
        return APP_PROTOCOL_VERSION
    offered = []
    for part in raw.split(","):
        try:
            offered.append(int(part))
        except ValueError:
            raise HandshakeError("PLUGIN_PROTOCOL_VERSIONS: %r is not a version number" % (part,)) from None
    if APP_PROTOCOL_VERSION not in offered:
        raise HandshakeError(
            "the host speaks plugin protocol versions %s; this plugin speaks %d"
            % (raw, APP_PROTOCOL_VERSION))
    return APP_PROTOCOL_VERSION


def _port_range(env):
    lo, hi = env.get("PLUGIN_MIN_PORT", ""), env.get("PLUGIN_MAX_PORT", "")
    if lo == "" and hi == "":
        return [0]
    try:
        lo_n, hi_n = int(lo or "0"), int(hi or "0")
    except ValueError:
        raise HandshakeError("PLUGIN_MIN_PORT=%r PLUGIN_MAX_PORT=%r: not port numbers" % (lo, hi)) from None
    if lo_n > hi_n:
        raise HandshakeError("PLUGIN_MIN_PORT %d is greater than PLUGIN_MAX_PORT %d" % (lo_n, hi_n))
    return range(lo_n, hi_n + 1)


class _Stop:
    """Why and when the plugin stops."""

    def __init__(self):
        self.event = threading.Event()
        self.reason = ""
        self._lock = threading.Lock()

    def set(self, reason):
        with self._lock:
            if not self.event.is_set():
                self.reason = reason
                self.event.set()


def _health_handler():
    def check(req, context):
        if req.service not in ("", HEALTH_SERVICE):
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service %r" % (req.service,))
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            check,
            request_deserializer=health_pb2.HealthCheckRequest.FromString,
            response_serializer=health_pb2.HealthCheckResponse.SerializeToString),
    })


def _controller_handler(stop):
    def shutdown(_req, _context):
        stop.set("the host asked the plugin to shut down")
        return goplugin_pb2.Empty()

    return grpc.method_handlers_generic_handler("plugin.GRPCController", {
        "Shutdown": grpc.unary_unary_rpc_method_handler(
            shutdown,
            request_deserializer=goplugin_pb2.Empty.FromString,
            response_serializer=goplugin_pb2.Empty.SerializeToString),
    })


def _stdio_handler(stop):
    # The stream stays open, carrying nothing, until the plugin stops or the
    # host hangs up; the plugin's stderr reaches the host directly.
    def stream(_req, context):
        while not stop.event.wait(0.5):
            if not context.is_active():
                return
        return
        yield  # a generator, for a server-streaming method

    return grpc.method_handlers_generic_handler("plugin.GRPCStdio", {
        "StreamStdio": grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=goplugin_pb2.Empty.FromString,
            response_serializer=goplugin_pb2.StdioData.SerializeToString),
    })


def _watch_stdin(stop, stdin):
    def run():
        try:
            while True:
                chunk = os.read(stdin.fileno(), 4096)
                if not chunk:
                    break
        except OSError:
            pass
        stop.set("stdin closed")

    threading.Thread(target=run, name="stdin-watch", daemon=True).start()


def serve(handlers, *, name="plugin", exit_on_stdin_close=False, max_workers=None,
          env=None, stdout=None, stderr=None, stdin=None, cert_backend="auto"):
    """Serve handlers (grpc.GenericRpcHandler values) as a go-plugin plugin.

    Returns the process exit status: 0 after a clean stop, 1 when the
    program was not started by a causalrec host or the handshake failed.
    exit_on_stdin_close also stops the plugin when stdin reaches end of
    file; it is off by default because go-plugin hands the host's own
    stdin to its plugins, and a host started with stdin at /dev/null (a
    service, a container) would see its plugins exit at once.
    """
    env = os.environ if env is None else env
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    stdin = sys.stdin if stdin is None else stdin

    def fail(msg):
        stderr.write("%s: %s\n" % (name, msg))
        stderr.flush()
        return 1

    if env.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        stderr.write(_NOT_A_PROGRAM)
        stderr.flush()
        return 1
    try:
        version = negotiate_version(env)
        ports = _port_range(env)
    except HandshakeError as e:
        return fail(str(e))

    stop = _Stop()
    workers = max_workers or max(4, min(8, (os.cpu_count() or 1) + 2))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name),
        handlers=list(handlers) + [_health_handler(), _controller_handler(stop), _stdio_handler(stop)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ])

    server_cert = ""
    client_cert = env.get("PLUGIN_CLIENT_CERT", "")
    creds = None
    if client_cert:
        try:
            cert_pem, key_pem, der = tlscert.self_signed_localhost(cert_backend)
        except (tlscert.CertError, OSError) as e:
            return fail("automatic mutual TLS: %s" % e)
        creds = grpc.ssl_server_credentials(
            [(key_pem, cert_pem)], root_certificates=client_cert.encode("ascii"), require_client_auth=True)
        server_cert = base64.b64encode(der).decode("ascii").rstrip("=")

    port = 0
    for want in ports:
        addr = "127.0.0.1:%d" % want
        try:
            port = server.add_secure_port(addr, creds) if creds else server.add_insecure_port(addr)
        except RuntimeError:
            port = 0
        if port:
            break
    if not port:
        return fail("cannot listen on 127.0.0.1 (ports %s)" % (
            "any" if list(ports) == [0] else "%d-%d" % (ports[0], ports[-1])))

    # SIGTERM stops the plugin; SIGINT is left to the host (see above).
    signal.signal(signal.SIGTERM, lambda *_: stop.set("SIGTERM"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server.start()

    line = "%d|%d|tcp|127.0.0.1:%d|grpc|%s" % (CORE_PROTOCOL_VERSION, version, port, server_cert)
    if env.get("PLUGIN_MULTIPLEX_GRPC", "") != "":
        # The host can read a seventh field: this plugin has no gRPC broker,
        # so it cannot multiplex broker connections.
        line += "|false"
    stdout.write(line + "\n")
    stdout.flush()

    if exit_on_stdin_close:
        _watch_stdin(stop, stdin)
    parent = os.getppid()
    while not stop.event.wait(1.0):
        if os.getppid() != parent:
            stop.set("the host process exited")
    stderr.write("%s: stopping: %s\n" % (name, stop.reason))
    stderr.flush()
    server.stop(grace=2).wait()
    return 0
