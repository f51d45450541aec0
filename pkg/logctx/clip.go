package logctx

import (
	"strconv"
	"unicode/utf8"
)

// MaxValue bounds a value taken from outside (an event attribute, an API
// server's message) in a log line or an answer: an event id of 300 KB must
// not become 300 KB on every line logged while handling it.
const MaxValue = 256

// Clip returns s cut to at most n bytes on a rune boundary, naming how much
// was cut so that a reader knows the value is not whole.
func Clip(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	// Cut where a rune starts, so a valid UTF-8 value stays valid.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	cut := s[:n]
	return cut + "…[" + strconv.Itoa(len(s)-len(cut)) + " bytes cut]"
}

// Value is Clip(s, MaxValue).
func Value(s string) string { return Clip(s, MaxValue) }
