package resources

import (
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 10 ":                          10 * time.Second,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"Sat, 28 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Sat, 28 Nov 2026 11:00:00 GMT": 0,
		"99999999":                      24 * time.Hour,
	} {
		if got := ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	for name, tc := range map[string]struct {
		delay, retryAfter, lo, hi time.Duration
	}{
		"exponential step": {time.Second, 0, 500 * time.Millisecond, time.Second},
		"Retry-After":      {time.Second, 4 * time.Second, 4 * time.Second, 5 * time.Second},
		"nothing":          {0, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			for range 100 {
				if got := Backoff(tc.delay, tc.retryAfter); got < tc.lo || got > tc.hi {
					t.Fatalf("Backoff = %v, want within [%v, %v]", got, tc.lo, tc.hi)
				}
			}
		})
	}
}
