package keptn

import "testing"

func TestIsSequenceType(t *testing.T) {
	for typ, want := range map[string]bool{
		"sh.keptn.event.dev.delivery.triggered":   true,
		"sh.keptn.event.dev.delivery.finished":    true,
		"sh.keptn.event.a.b.c.triggered":          true,
		"sh.keptn.event.test.triggered":           false,
		"sh.keptn.event.dev..triggered":           false,
		"sh.keptn.event..delivery.triggered":      false,
		"sh.keptn.log.error":                      false,
		"dev.knative.sources.ping":                false,
		"sh.keptn.event.dev.delivery.triggered.x": true,
	} {
		if got := IsSequenceType(typ); got != want {
			t.Errorf("IsSequenceType(%q) = %v, want %v", typ, got, want)
		}
	}
}
