package keptn

import "strings"

// IsSequenceType reports whether t is a sequence-level event type,
// sh.keptn.event.<stage>.<sequence>.<kind> (six dot-separated parts, as
// go-utils' IsSequenceEventType), or any longer sh.keptn.event. type. Such
// events pass the Trigger's prefix and suffix filters, but they belong to
// the shipyard-controller, not to a task executor: they are acknowledged
// and ignored, never refused as malformed (a 400 would send each of them to
// the dead letter).
func IsSequenceType(t string) bool {
	rest, ok := strings.CutPrefix(t, typePrefix)
	if !ok {
		return false
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 3 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
	}
	return true
}
