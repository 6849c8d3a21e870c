// Package jsonobj takes the bulk out of JSON documents whose size is one
// member: a model file whose model bytes are a long base64 string, or a
// saved model whose payload is an object of a few long strings.
// encoding/json scans such a member byte by byte once per level of nesting
// (the document's validity check, then each json.RawMessage it passes
// through); Split finds it with bytes.IndexByte, and the caller decodes the
// other members with encoding/json and the bulk itself.
//
// Split and Strings check the structure they read but not what they hand
// back: the caller must decode rest with encoding/json and value (or each
// string) with a decoder that checks its own input, so that every byte of
// the document is checked once. When they return false the caller decodes
// the whole document with encoding/json, which reports the error, if any.
package jsonobj

import (
	"bytes"
	"strings"
)

// Split returns the raw value of the member named key of the JSON object b
// and b's other members as a JSON object. ok is false when b is not an
// object whose keys have no escapes, when key is not one of them exactly
// once, or when another key equals key ignoring case (encoding/json would
// decode it into the same field).
func Split(b []byte, key string) (value, rest []byte, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, nil, false
	}
	rest = make([]byte, 0, 256)
	rest = append(rest, '{')
	found := false
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, nil, false // no members, so no key
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, nil, false
		}
		end, plain := skipString(b, i)
		if end < 0 || !plain {
			return nil, nil, false
		}
		quoted := b[i:end]
		k := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, nil, false
		}
		i = skipSpace(b, i+1)
		vend := skipValue(b, i)
		if vend < 0 {
			return nil, nil, false
		}
		switch {
		case string(k) == key:
			if found {
				return nil, nil, false
			}
			found, value = true, b[i:vend]
		case strings.EqualFold(string(k), key):
			return nil, nil, false
		default:
			if len(rest) > 1 {
				rest = append(rest, ',')
			}
			rest = append(rest, quoted...)
			rest = append(rest, ':')
			rest = append(rest, b[i:vend]...)
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return nil, nil, false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return nil, nil, false
		}
		i = skipSpace(b, i+1)
	}
	if skipSpace(b, i+1) != len(b) || !found {
		return nil, nil, false
	}
	return value, append(rest, '}'), true
}

// Strings returns the contents of the JSON array b of strings, each
// without escapes. ok is false when b is not such an array.
func Strings(b []byte) (elems [][]byte, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return [][]byte{}, skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		end, plain := skipString(b, i)
		if end < 0 || !plain {
			return nil, false
		}
		elems = append(elems, b[i+1:end-1])
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == ']' {
			break
		}
		if b[i] != ',' {
			return nil, false
		}
		i = skipSpace(b, i+1)
	}
	return elems, skipSpace(b, i+1) == len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] (a
// quote), or -1, and whether the string has no backslash.
func skipString(b []byte, i int) (end int, plain bool) {
	plain = true
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1, false
		}
		q := j + k
		// The quote is escaped when an odd number of backslashes
		// precede it.
		n := 0
		for q-1-n > i && b[q-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			if plain && bytes.IndexByte(b[i+1:q], '\\') >= 0 {
				plain = false
			}
			return q + 1, plain
		}
		plain = false
		j = q + 1
	}
}

// skipValue returns the index after the value that starts at b[i], or -1.
// Containers are matched by depth only, and literals run to the next
// delimiter: what they hold is checked by the caller's decoding.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := skipString(b, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _ := skipString(b, i)
				if end < 0 {
					return -1
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	case ',', '}', ']', ':':
		return -1
	}
	j := i
	for ; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return j
}

// String returns the contents of the JSON string b, which has no escapes.
// ok is false when b is not such a string.
func String(b []byte) (s []byte, ok bool) {
	if len(b) < 2 || b[0] != '"' {
		return nil, false
	}
	end, plain := skipString(b, 0)
	if end != len(b) || !plain {
		return nil, false
	}
	return b[1 : end-1], true
}
