# Writes positions.json: golden assignment positions computed apart from the
# Go code, from the definition in package experiment (hash.go):
# the first 8 bytes of SHA-256(salt || 0x00 || user) as a big-endian
# integer, shifted right by 11 bits, divided by 2**53.
# Run: python3 positions.py > positions.json
import hashlib, json

cases = [
    ("", "u1"), ("", ""), ("ab1", "u1"), ("ab1", "u2"), ("ab1", "user-000042"),
    ("ab1", "Zoë"), ("ab1", "ユーザー"), ("ab1", "用户🙂"), ("ab1", "e\u0301"), ("ab1", "\u00e9"),
    ("salt with space", "a b"), ("ab1", "{tag}"), ("Ω", "Ω"), ("ab1", "x" * 512),
]
out = []
for salt, user in cases:
    d = hashlib.sha256(salt.encode() + b"\0" + user.encode()).digest()
    pos = (int.from_bytes(d[:8], "big") >> 11) / 2**53
    out.append({"salt": salt, "user": user, "position": pos, "hex": d[:8].hex()})
print(json.dumps(out, ensure_ascii=False, indent=1))
