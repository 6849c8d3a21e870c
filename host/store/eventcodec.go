package store

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeEvent parses the stored JSON of an event. Events are written by
// json.Marshal of Event, so nearly every entry is a flat object of known
// keys with plain strings and numbers; decodeEvent reads those directly and
// hands anything else (escapes in strings, unknown keys, nulls, nested
// values, odd spacing) to encoding/json, so its result is always what
// json.Unmarshal would give.
func decodeEvent(raw string) (Event, error) {
	if e, ok := decodeEventFast(raw); ok {
		return e, nil
	}
	var e Event
	err := json.Unmarshal([]byte(raw), &e)
	return e, err
}

// decodeEventFast is the fast path of decodeEvent; ok is false when it
// cannot be sure of giving json.Unmarshal's result.
func decodeEventFast(s string) (e Event, ok bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return Event{}, false
	}
	s = s[1 : len(s)-1]
	for len(s) > 0 {
		key, rest, ok := plainString(s)
		if !ok || len(rest) == 0 || rest[0] != ':' {
			return Event{}, false
		}
		s = rest[1:]
		switch key {
		case "id", "kind", "user", "item", "arm", "policy_id", "time":
			var v string
			if v, s, ok = plainString(s); !ok {
				return Event{}, false
			}
			switch key {
			case "id":
				e.ID = v
			case "kind":
				e.Kind = EventKind(v)
			case "user":
				e.User = v
			case "item":
				e.Item = v
			case "arm":
				e.Arm = v
			case "policy_id":
				e.PolicyID = v
			case "time":
				// As time.Time's UnmarshalJSON parses it.
				if err := e.Time.UnmarshalText([]byte(v)); err != nil {
					return Event{}, false
				}
			}
		case "propensity", "value", "position":
			var lit string
			if lit, s, ok = number(s); !ok {
				return Event{}, false
			}
			if key == "position" {
				n, err := strconv.Atoi(lit)
				if err != nil {
					return Event{}, false
				}
				e.Position = n
				break
			}
			f, err := strconv.ParseFloat(lit, 64)
			if err != nil {
				return Event{}, false
			}
			if key == "propensity" {
				e.Propensity = f
			} else {
				e.Value = f
			}
		case "time_unknown":
			switch {
			case strings.HasPrefix(s, "true"):
				e.TimeUnknown, s = true, s[len("true"):]
			case strings.HasPrefix(s, "false"):
				s = s[len("false"):]
			default:
				return Event{}, false
			}
		default:
			return Event{}, false
		}
		if len(s) > 0 {
			if s[0] != ',' || len(s) == 1 {
				return Event{}, false
			}
			s = s[1:]
		}
	}
	return e, true
}

// plainString reads a JSON string without escapes or control characters
// at the start of s and returns its contents and the rest of s.
func plainString(s string) (v, rest string, ok bool) {
	if len(s) == 0 || s[0] != '"' {
		return "", s, false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", s, false
	}
	v = s[1 : 1+end]
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\\' || c < 0x20 {
			return "", s, false
		}
	}
	if !utf8.ValidString(v) { // encoding/json would replace bad bytes
		return "", s, false
	}
	return v, s[2+end:], true
}

// number reads a JSON number at the start of s: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func number(s string) (lit, rest string, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return "", s, false
	}
	if i < len(s) && s[i] == '.' {
		start := i + 1
		if i = digits(s, start); i == start {
			return "", s, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		if i = digits(s, start); i == start {
			return "", s, false
		}
	}
	return s[:i], s[i:], true
}

// digits returns the index after the run of ASCII digits of s that starts
// at i.
func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
