// Package jobconfigtest builds the hostile job/config.yaml documents that
// pkg/jobconfig's budgets are tested with, so that its unit tests and the
// end-to-end tests (test/e2e) send the same ones.
package jobconfigtest

import (
	"fmt"
	"strings"
)

// AliasBomb is head followed by one 190 KB value anchored in cmd and
// aliased 14,000 times in args: a 256 KB file that encodes to 2.7 GB of
// Job. head must end inside a task, where its keys are indented by eight
// spaces.
func AliasBomb(head string) string {
	var b strings.Builder
	b.WriteString(head)
	b.WriteString("        cmd: [&big " + strings.Repeat("x", 190_000) + "]\n        args: [")
	for i := range 14_000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("*big")
	}
	b.WriteString("]\n")
	return b.String()
}

// HeavyRegexps is a config of actions actions, each with events event names
// of the form (?:[a-z]{1,999}|...) and one task running image: at 4 × 32, a
// probe's 100 KB that compiled to 1.4 GB. eventType, when not
// empty, takes the first action's first name, so that an event of that
// type has an action to fail.
func HeavyRegexps(actions, events int, image, eventType string) string {
	var alts []string
	for i := 0; len(strings.Join(alts, "|")) < 780; i++ {
		alts = append(alts, fmt.Sprintf("[a-%c]{1,999}", 'b'+i%24))
	}
	name := "(?:" + strings.Join(alts, "|") + ")"
	var b strings.Builder
	b.WriteString("apiVersion: v2\nactions:\n")
	for a := range actions {
		fmt.Fprintf(&b, "  - name: a%d\n    events:\n", a)
		heavy := events
		if a == 0 && eventType != "" {
			fmt.Fprintf(&b, "      - name: %s\n", eventType)
			heavy--
		}
		for range heavy {
			fmt.Fprintf(&b, "      - name: '%s'\n", name)
		}
		fmt.Fprintf(&b, "    tasks:\n      - name: t\n        image: %s\n", image)
	}
	return b.String()
}
