package logctx

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestClip(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"long", "abcdefgh", 5, "abcde…[3 bytes cut]"},
		{"rune boundary", "aéé", 2, "a…[4 bytes cut]"},
		{"zero", "abc", 0, "…[3 bytes cut]"},
		{"negative", "abc", -1, "…[3 bytes cut]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Clip(tt.in, tt.n))
		})
	}
	assert.Equal(t, strings.Repeat("x", MaxValue)+"…[306944 bytes cut]", Value(strings.Repeat("x", 300<<10)))
}

// FuzzClip: the result is bounded, valid UTF-8 when the input is, and a
// prefix of the input.
func FuzzClip(f *testing.F) {
	f.Add("aéé", 2)
	f.Add(strings.Repeat("ü", 200), 255)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 1024
		got := Clip(s, n)
		if len(s) <= max(n, 0) {
			if got != s {
				t.Fatalf("Clip(%q, %d) = %q, want it unchanged", s, n, got)
			}
			return
		}
		kept, _, ok := strings.Cut(got, "…[")
		if !ok || !strings.HasPrefix(s, kept) || len(kept) > max(n, 0) {
			t.Fatalf("Clip(%q, %d) = %q: not a bounded prefix", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Clip(%q, %d) = %q: invalid UTF-8", s, n, got)
		}
		if len(got) > max(n, 0)+32 {
			t.Fatalf("Clip(%q, %d) is %d bytes", s, n, len(got))
		}
	})
}
