package lm

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   \t\n", nil},
		{"Hello, World!", []string{"hello", ",", "world", "!"}},
		{"Don’t STOP—now!", []string{"don't", "stop", "—", "now", "!"}},
		{"It costs 3.50 dollars.", []string{"it", "costs", "3.50", "dollars", "."}},
		{"STRASSE Straße", []string{"strasse", "strasse"}},
		{"ΣΊΣΥΦΟΣ", []string{"σίσυφοσ"}},
		{"e-mail me@example.com", []string{"e", "-", "mail", "me", "@", "example.com"}},
		{"日本語テキスト", []string{"日", "本", "語", "テキスト"}}, // ideographs split one by one
	}
	for _, tt := range tests {
		got := Tokenize(tt.in)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"Hello, World!", "Don’t STOP—now!", "日本語", "a\x00b", "\xff\xfe", "İstanbul ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks := Tokenize(s)
		for _, tok := range toks {
			if tok == "" {
				t.Fatalf("empty token in %q", toks)
			}
			if strings.ContainsFunc(tok, func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' }) {
				t.Fatalf("token %q contains white space", tok)
			}
		}
		if utf8.ValidString(s) {
			// Tokenising is idempotent on the joined tokens' words.
			again := Tokenize(strings.Join(toks, " "))
			if len(again) < len(toks) {
				t.Fatalf("re-tokenising %q lost tokens: %q", toks, again)
			}
		}
	})
}
