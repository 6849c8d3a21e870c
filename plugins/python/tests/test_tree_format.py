"""Unit tests of the py-sklearn model format and the SDK's parameter parsing.

Run by the Go test TestPythonUnitTests, or from plugins/python:

    OMP_NUM_THREADS=1 python3 -B -m unittest discover -s tests -p 'test_*.py'
"""

import hashlib
import json
import os
import struct
import sys
import unittest

_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _root)
sys.path.insert(0, os.path.join(_root, "estimator"))

import numpy as np  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402

import sklearn_tlearner  # noqa: E402
import tree_format  # noqa: E402
from causalrec_plugin.estimator import ModelRegistry, Param, parse_params  # noqa: E402


def _fitted():
    rng = np.random.default_rng(5)
    n = 3000
    x = rng.normal(size=(n, 3))
    x[:, 2] = rng.integers(0, 4, size=n)
    x[rng.random(n) < 0.05, 0] = np.nan
    y = (x[:, 0] + (x[:, 2] == 1) + rng.normal(size=n) > 0.3).astype(float)
    m = HistGradientBoostingClassifier(max_iter=15, categorical_features=[False, False, True], random_state=1).fit(x, y)
    return m, x


def _reseal(body_without_sum):
    return body_without_sum + hashlib.sha256(body_without_sum).digest()


def _split(b):
    """The header dict and the payload of a model's bytes."""
    _, _, hlen = struct.unpack_from("<8sII", b)
    header = json.loads(b[16:16 + hlen])
    return header, b[16 + hlen:-32]


def _join(header, payload):
    hb = json.dumps(header).encode()
    return _reseal(struct.pack("<8sII", tree_format.MAGIC, tree_format.VERSION, len(hb)) + hb + payload)


class TreeFormatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model, cls.x = _fitted()
        cls.ens = sklearn_tlearner._ensemble(cls.model, "logit")
        cls.bytes = tree_format.encode({"k": "v"}, 3, [cls.ens])

    def test_round_trip_predicts_like_scikit_learn(self):
        meta, d, (e,) = tree_format.decode(self.bytes)
        self.assertEqual(meta, {"k": "v"})
        self.assertEqual(d, 3)
        x = self.x.copy()
        x[:20, 2] = 7      # an unseen category
        x[20:40, 2] = -1   # a negative one
        x[40:60, 2] = np.nan
        got = tree_format.predict(e, x)
        want = self.model.predict_proba(x)[:, 1]
        self.assertLessEqual(np.abs(got - want).max(), 1e-12)

    def test_refuses_truncated_bytes(self):
        for n in list(range(0, 64)) + list(range(64, len(self.bytes), 997)) + [len(self.bytes) - 1]:
            with self.assertRaises(ValueError, msg="prefix of %d bytes" % n):
                tree_format.decode(self.bytes[:n])

    def test_refuses_flipped_bits(self):
        for i in range(0, len(self.bytes), max(1, len(self.bytes) // 200)):
            b = bytearray(self.bytes)
            b[i] ^= 0x10
            with self.assertRaises(ValueError, msg="byte %d flipped" % i):
                tree_format.decode(bytes(b))

    def test_refuses_forged_structures(self):
        header, payload = _split(self.bytes)
        n = sum(t[0] for t in header["ensembles"][0]["trees"])
        off = {"value": 0, "threshold": 8 * n, "feature": 16 * n, "left": 20 * n, "right": 24 * n}

        def forge(col, node, value, fmt):
            p = bytearray(payload)
            width = struct.calcsize(fmt)
            struct.pack_into(fmt, p, off[col] + width * node, value)
            return _join(header, bytes(p))

        cases = {
            "a child before its parent": (forge("left", 0, 0, "<i"), "not a later node"),
            "a child past the tree": (forge("right", 0, 10 ** 6, "<i"), "not a later node"),
            "a feature out of range": (forge("feature", 0, 3, "<i"), r"feature outside \[0, 3\)"),
            "a NaN threshold": (forge("threshold", 0, float("nan"), "<d"), "has no threshold"),
        }

        def edit(key, value, where=None):
            h = json.loads(json.dumps(header))
            (h if where is None else h["ensembles"][0])[key] = value
            return _join(h, payload)

        cases["an unknown link"] = (edit("link", "exp", 0), "link 'exp'")
        cases["an infinite baseline"] = (edit("baseline", float("inf"), 0), "not a finite number")
        cases["a wrong payload size"] = (edit("payload_bytes", header["payload_bytes"] + 1), "payload size")
        cases["fewer features than the model uses"] = (edit("n_features", 1), "categories of feature .2.|feature outside")
        b = bytearray(self.bytes[:-32])
        struct.pack_into("<I", b, 8, 2)
        cases["a newer version"] = (_reseal(bytes(b)), "version 2")
        for name, (b, want) in cases.items():
            with self.subTest(name):
                with self.assertRaisesRegex(ValueError, want):
                    tree_format.decode(b)
        # The unchanged pieces rejoin into a model that loads.
        tree_format.decode(_join(header, payload))

    def test_tlearner_refuses_other_models(self):
        t = sklearn_tlearner.TLearner()
        other = tree_format.encode({"plugin": "someone-else", "estimator": "t", "arms": ["a", "b"]}, 3, [self.ens, self.ens])
        with self.assertRaisesRegex(ValueError, "not a py-sklearn model"):
            t.load(other)
        one_arm = tree_format.encode({"plugin": "py-sklearn", "estimator": "t", "arms": ["a", "b"]}, 3, [self.ens])
        with self.assertRaisesRegex(ValueError, "1 tree ensembles for 2 arms"):
            t.load(one_arm)
        with self.assertRaises(ValueError):
            t.load(b'{"estimator": "t"}')


class ParamsTest(unittest.TestCase):
    SPECS = [Param("n", "int", "3"), Param("rate", "float", ""), Param("on", "bool", "false"),
             Param("mode", "enum", "a", allowed=("a", "b")), Param("label", "string", "")]

    def test_defaults_and_values(self):
        self.assertEqual(parse_params("e", self.SPECS, {}),
                         {"n": 3, "rate": None, "on": False, "mode": "a", "label": ""})
        self.assertEqual(parse_params("e", self.SPECS, {"n": "7", "rate": "0.5", "on": "TRUE", "mode": "b", "label": "x"}),
                         {"n": 7, "rate": 0.5, "on": True, "mode": "b", "label": "x"})

    def test_errors(self):
        cases = {
            "n": ("1.5", "not an integer"),
            "rate": ("inf", "not a finite number"),
            "on": ("yes", "want true or false"),
            "mode": ("c", "want one of a, b"),
        }
        for name, (value, want) in cases.items():
            with self.subTest(name):
                with self.assertRaisesRegex(ValueError, "parameter %s=%s: %s" % (name, value, want)):
                    parse_params("e", self.SPECS, {name: value})
        with self.assertRaisesRegex(ValueError, 'estimator e does not take parameter "x"'):
            parse_params("e", self.SPECS, {"x": "1"})


class RegistryTest(unittest.TestCase):
    def test_keeps_the_most_recently_used(self):
        r = ModelRegistry(2)
        r.put(b"a", 1)
        r.put(b"b", 2)
        self.assertEqual(r.get(b"a"), 1)  # a is now the most recent
        r.put(b"c", 3)
        self.assertIsNone(r.get(b"b"))
        self.assertEqual((r.get(b"a"), r.get(b"c"), len(r)), (1, 3, 2))


if __name__ == "__main__":
    unittest.main()
