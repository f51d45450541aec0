package distributor

import "testing"

func TestSubscribed(t *testing.T) {
	const topic = "sh.keptn.event.*.triggered"
	for typ, want := range map[string]bool{
		"sh.keptn.event.test.triggered":         true,
		"sh.keptn.event.dev.delivery.triggered": false, // sequence level
		"sh.keptn.event.test.started":           false,
		"sh.keptn.event.triggered":              false,
		"sh.keptn.event.test.triggered.again":   false,
	} {
		if got := Subscribed(topic, typ); got != want {
			t.Errorf("Subscribed(%q, %q) = %v, want %v", topic, typ, got, want)
		}
	}
	if !Subscribed("a.b, sh.keptn.>", "sh.keptn.log.error") || Subscribed("sh.keptn.>", "sh.keptn") {
		t.Error("comma lists and > do not match as NATS does")
	}
}
