"""Log lines a causalrec host files at their level.

The host reads every line a plugin writes to stderr. A line that is an
hclog JSON object ({"@level": ..., "@message": ..., "@timestamp": ...,
more keys}) is logged at its level with its keys as attributes; any other
line is logged at debug level (go-plugin's rule). log() writes such lines:

    log.info("model loaded", digest="3fa2c1d0", bytes=81234)
"""

import datetime
import json
import math
import sys
import threading

_lock = threading.Lock()
_LEVELS = ("trace", "debug", "info", "warn", "error")


def log(level, message, stream=None, **fields):
    """Write one log line at level (trace, debug, info, warn or error)."""
    if level not in _LEVELS:
        raise ValueError("log level %r: want one of %s" % (level, ", ".join(_LEVELS)))
    now = datetime.datetime.now(datetime.timezone.utc)
    entry = {"@level": level, "@message": message,
             # go-plugin parses exactly this layout (Go's 2006-01-02T15:04:05.000000Z07:00).
             "@timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    for k, v in fields.items():
        if k.startswith("@"):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            v = repr(v)  # JSON has no NaN or infinity; Go would refuse the line
        entry[k] = v
    line = json.dumps(entry, default=str) + "\n"
    out = sys.stderr if stream is None else stream
    with _lock:
        out.write(line)
        out.flush()


def debug(message, **fields):
    log("debug", message, **fields)


def info(message, **fields):
    log("info", message, **fields)


def warn(message, **fields):
    log("warn", message, **fields)


def error(message, **fields):
    log("error", message, **fields)
