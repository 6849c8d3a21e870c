package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// A text-score cache entry (one field of P textscore:<plugin>) is stored
// in a compact binary form, version 1:
//
//	0x01                        format version
//	uvarint n, n bytes          plugin version
//	uvarint n, n bytes          text hash
//	uvarint k                   number of features
//	k × (uvarint n, n bytes,    feature name (sorted by name)
//	     8 bytes)               value, IEEE 754 binary64, little-endian
//
// Entries written by earlier releases are JSON objects
// {"v": version, "h": text hash, "f": {name: value}}; they start with '{'
// and are still read, and are replaced in the binary form the next time
// the item is scored.
const scoreFormatV1 = 0x01

// scoreEntry is a decoded text-score cache entry. It is shared by every
// reader of the same stored bytes and must not be modified.
type scoreEntry struct {
	// raw is the stored form the entry was decoded from.
	raw      string
	version  string
	textHash string
	features map[string]float64
	// text is the last item text seen to have textHash, so an unchanged
	// text is matched by comparing strings instead of hashing it again.
	text atomic.Pointer[string]
}

// matches reports whether the entry was written by plugin version for
// text.
func (e *scoreEntry) matches(version, text string) bool {
	if e.version != version {
		return false
	}
	if t := e.text.Load(); t != nil && *t == text {
		return true
	}
	if TextHash(text) != e.textHash {
		return false
	}
	seen := text // a copy, so that only the slow path allocates
	e.text.Store(&seen)
	return true
}

// encodeScore returns the binary form of a cache entry.
func encodeScore(version, textHash string, features map[string]float64) []byte {
	names := make([]string, 0, len(features))
	n := 1 + 2*binary.MaxVarintLen64 + len(version) + len(textHash) + binary.MaxVarintLen64
	for k := range features {
		names = append(names, k)
		n += binary.MaxVarintLen64 + len(k) + 8
	}
	slices.Sort(names)
	buf := make([]byte, 0, n)
	buf = append(buf, scoreFormatV1)
	buf = appendString(buf, version)
	buf = appendString(buf, textHash)
	buf = binary.AppendUvarint(buf, uint64(len(names)))
	for _, k := range names {
		buf = appendString(buf, k)
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(features[k]))
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

var errShortEntry = errors.New("truncated entry")

// decodeScore parses a cache entry in the binary or the legacy JSON form.
func decodeScore(raw string) (*scoreEntry, error) {
	if raw == "" {
		return nil, errShortEntry
	}
	switch raw[0] {
	case scoreFormatV1:
		return decodeScoreV1(raw[1:])
	case '{':
		var c struct {
			Version  string             `json:"v"`
			TextHash string             `json:"h"`
			Features map[string]float64 `json:"f"`
		}
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, err
		}
		return &scoreEntry{version: c.Version, textHash: c.TextHash, features: c.Features}, nil
	}
	return nil, fmt.Errorf("unknown entry format %#x", raw[0])
}

func decodeScoreV1(b string) (*scoreEntry, error) {
	var e scoreEntry
	var ok bool
	if e.version, b, ok = readString(b); !ok {
		return nil, errShortEntry
	}
	if e.textHash, b, ok = readString(b); !ok {
		return nil, errShortEntry
	}
	k, n := uvarint(b)
	if n <= 0 || k > uint64(len(b)) {
		return nil, errShortEntry
	}
	b = b[n:]
	e.features = make(map[string]float64, k)
	for range k {
		var name string
		if name, b, ok = readString(b); !ok || len(b) < 8 {
			return nil, errShortEntry
		}
		e.features[name] = math.Float64frombits(le64(b))
		b = b[8:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after the entry", len(b))
	}
	return &e, nil
}

// le64 reads a little-endian uint64 from the first 8 bytes of b.
func le64(b string) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// readString reads a uvarint length and that many bytes from b.
func readString(b string) (s, rest string, ok bool) {
	l, n := uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", b, false
	}
	end := n + int(l)
	return b[n:end], b[end:], true
}

// uvarint is binary.Uvarint on a string, without copying it.
func uvarint(b string) (uint64, int) {
	var x uint64
	var s uint
	for i := 0; i < len(b) && i < binary.MaxVarintLen64; i++ {
		c := b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1)
			}
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}

// scoreDecoder keeps the decoded cache entry of each (plugin, item) with
// the stored bytes it was decoded from. An entry is reused only when the
// bytes read now are the same, and they hold the plugin version and the
// text hash, so a cached entry can never stand for other data: a rescored
// item has other bytes.
type scoreDecoder struct {
	mu       sync.Mutex
	byPlugin map[string]map[string]*scoreEntry
	n        int
}

// maxDecodedScores bounds the decoded entries kept; the cache is emptied
// when full.
const maxDecodedScores = 100_000

func (d *scoreDecoder) decode(plugin, item, raw string) (*scoreEntry, error) {
	if d == nil {
		return decodeScore(raw)
	}
	d.mu.Lock()
	e := d.keptLocked(plugin, item, raw)
	d.mu.Unlock()
	if e != nil {
		return e, nil
	}
	e, err := decodeScore(raw)
	if err != nil {
		return nil, err
	}
	e.raw = raw
	d.mu.Lock()
	d.keepLocked(plugin, item, e)
	d.mu.Unlock()
	return e, nil
}

// decodeAll returns the decoded entries of plugin for the items ids whose
// stored values are vals (a string, or nil for none), under one lock. An
// entry that cannot be decoded is left out.
func (d *scoreDecoder) decodeAll(plugin string, ids []string, vals []any) map[string]*scoreEntry {
	out := make(map[string]*scoreEntry, len(vals))
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, v := range vals {
		raw, ok := v.(string)
		if !ok || i >= len(ids) {
			continue
		}
		id := ids[i]
		if e := d.keptLocked(plugin, id, raw); e != nil {
			out[id] = e
			continue
		}
		e, err := decodeScore(raw)
		if err != nil {
			continue
		}
		e.raw = raw
		d.keepLocked(plugin, id, e)
		out[id] = e
	}
	return out
}

// keptLocked returns the kept entry of (plugin, item) when it was decoded
// from raw, else nil. d.mu must be held.
func (d *scoreDecoder) keptLocked(plugin, item, raw string) *scoreEntry {
	if e := d.byPlugin[plugin][item]; e != nil && e.raw == raw {
		return e
	}
	return nil
}

// keepLocked keeps e as the entry of (plugin, item), emptying the cache
// first when it is full. d.mu must be held.
func (d *scoreDecoder) keepLocked(plugin, item string, e *scoreEntry) {
	if d.byPlugin == nil || d.n >= maxDecodedScores {
		d.byPlugin, d.n = make(map[string]map[string]*scoreEntry), 0
	}
	m := d.byPlugin[plugin]
	if m == nil {
		m = make(map[string]*scoreEntry)
		d.byPlugin[plugin] = m
	}
	if _, ok := m[item]; !ok {
		d.n++
	}
	m[item] = e
}
