package experiment

import (
	"crypto/sha256"
	"encoding/binary"
)

// Position returns user's position in the hash space of salt, in [0, 1):
// the first 8 bytes of SHA-256(salt ‖ 0x00 ‖ user), big-endian, shifted
// right by 11 bits and divided by 2⁵³. It reads the strings' UTF-8 bytes
// as they are (no normalisation). The global namespace position is
// Position("", user).
func Position(salt, user string) float64 {
	h := sha256.New()
	h.Write([]byte(salt))
	h.Write([]byte{0})
	h.Write([]byte(user))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}
