#!/usr/bin/python3
"""length: a causalrec text scorer in Python that measures surface features.

Features of a text t (a sequence of Unicode code points):

    chars         the number of code points in t
    bytes         the number of bytes of t in UTF-8
    words         the number of maximal runs of code points that are not
                  White_Space (Unicode property; the same split as Go's
                  strings.Fields)
    exclamations  the number of "!" (U+0021)
    questions     the number of "?" (U+003F)

No feature depends on the request's context texts. Empty texts and texts
over --max-text-bytes get a per-item error; the rest of the batch is
scored.

Run by the causalrec host only (it refuses to start otherwise):

    /usr/bin/python3 plugins/python/textscorer/length_scorer.py [--max-text-bytes N] [--exit-on-stdin-close]
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from causalrec_plugin import plugin_pb2, serve, text_scorer_handler, check_text  # noqa: E402

NAME = "length"
VERSION = "1.0.0+length"
FEATURES = ("chars", "bytes", "words", "exclamations", "questions")
DEFAULT_MAX_TEXT_BYTES = 65536

# The code points with the Unicode White_Space property. Python's
# str.split() also splits at U+001C..U+001F, which are not White_Space, so
# the class is spelled out.
_WORD = re.compile(
    "[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")


def features(text):
    """Return the feature dict of one text."""
    return {
        "chars": float(len(text)),
        "bytes": float(len(text.encode("utf-8"))),
        "words": float(sum(1 for _ in _WORD.finditer(text))),
        "exclamations": float(text.count("!")),
        "questions": float(text.count("?")),
    }


class LengthScorer:
    """The TextScorer implementation."""

    def __init__(self, max_text_bytes=DEFAULT_MAX_TEXT_BYTES):
        if max_text_bytes < 0:
            raise ValueError("max text bytes %d is negative" % max_text_bytes)
        self.max_text_bytes = max_text_bytes

    def info(self):
        return plugin_pb2.TextScorerInfoResponse(
            name=NAME, version=VERSION, features=list(FEATURES), max_text_bytes=self.max_text_bytes)

    def score(self, request):
        resp = plugin_pb2.ScoreResponse()
        for item in request.items:
            s = resp.scores.add(id=item.id)
            err = check_text(item.text, self.max_text_bytes)
            if err:
                s.error = err
            else:
                s.features.update(features(item.text))
        return resp


def main(argv=None):
    p = argparse.ArgumentParser(prog="length_scorer.py", description="causalrec text scorer: surface features")
    p.add_argument("--max-text-bytes", type=int, default=DEFAULT_MAX_TEXT_BYTES,
                   help="largest text accepted, in UTF-8 bytes (0: no limit; default %(default)s)")
    p.add_argument("--exit-on-stdin-close", action="store_true",
                   help="also exit when stdin reaches end of file")
    args = p.parse_args(argv)
    try:
        scorer = LengthScorer(args.max_text_bytes)
    except ValueError as e:
        p.error(str(e))
    return serve([text_scorer_handler(scorer, NAME)], name=NAME, exit_on_stdin_close=args.exit_on_stdin_close)


if __name__ == "__main__":
    sys.exit(main())
