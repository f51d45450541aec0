package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidateAndRenderRefuseAlike: what the function refuses without an
// event, validate and render refuse too, with the same located message,
// because all three parse through pkg/jobconfig (issue 16, point 9).
func TestValidateAndRenderRefuseAlike(t *testing.T) {
	const task = "apiVersion: v2\nactions:\n  - name: a\n    events:\n      - name: sh.keptn.event.test.triggered\n    tasks:\n      - name: t\n        image: alpine:3.20\n"
	const fetcherSays = "9:17: actions[0].tasks[0].files[0]: the file fetcher would refuse it: invalid resource URI "
	tests := map[string]struct{ add, want, tail string }{
		"privileged":           {"securityContext: {privileged: true}", "9:39: actions[0].tasks[0].securityContext.privileged: true is not allowed", ""},
		"privilege escalation": {"securityContext: {allowPrivilegeEscalation: true}", "9:53: actions[0].tasks[0].securityContext.allowPrivilegeEscalation: true is not allowed", ""},
		"root":                 {"securityContext: {runAsUser: 0}", "9:38: actions[0].tasks[0].securityContext.runAsUser: 0 (root) is not allowed", ""},
		"runAsNonRoot false":   {"securityContext: {runAsNonRoot: false}", "9:41: actions[0].tasks[0].securityContext.runAsNonRoot: false is not allowed", ""},
		"seccomp Unconfined":   {"securityContext: {seccompProfile: {type: Unconfined}}", `9:50: actions[0].tasks[0].securityContext.seccompProfile.type: "Unconfined" is not allowed`, ""},
		"procMount Unmasked":   {"securityContext: {procMount: Unmasked}", `9:38: actions[0].tasks[0].securityContext.procMount: "Unmasked" is not allowed`, ""},
		"merge key":            {"securityContext: {<<: {privileged: true}}", "9:44: actions[0].tasks[0].securityContext.privileged: true is not allowed", ""},
		"reserved annotation":  {"annotations: {jobs.keptn.sh/origin: x}", `9:23: actions[0].tasks[0].annotations["jobs.keptn.sh/origin"]: the jobs.keptn.sh/ prefix is reserved`, ""},
		"absolute file":        {"files: [//x]", `9:17: actions[0].tasks[0].files[0]: the file fetcher would refuse it: invalid resource URI "//x": absolute path`, ""},
		"backslashes":          {`files: ['..\..\x']`, `9:17: actions[0].tasks[0].files[0]: the file fetcher would refuse it: invalid resource URI "..\\..\\x": contains '\\'`, ""},
		"long segment":         {"files: [" + strings.Repeat("s", 256) + "]", fetcherSays, "path segment longer than 255 bytes"},
		"long path":            {"files: [" + strings.Repeat("abcdefg/", 513) + "x]", fetcherSays, ": longer than 4096 bytes"},
	}
	dir := t.TempDir()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			require.NoError(t, os.WriteFile(file, []byte(task+"        "+tc.add+"\n"), 0o600))

			v := jobctl(t, "", "validate", file)
			assert.Equal(t, exitInvalid, v.code, "validate says no")
			assert.Contains(t, v.stdout, file+":"+tc.want)
			assert.Contains(t, v.stdout, tc.tail)

			r := jobctl(t, "", "render", "--config", file, "--event", testEvent)
			assert.Equal(t, exitInvalid, r.code, "render says no")
			assert.Empty(t, r.stdout, "no Job")
			assert.Contains(t, r.stderr, "job/config.yaml (service level at 521747298a3790fde1710f3aa2d03b55020575aa):"+tc.want)
			assert.Contains(t, r.stderr, tc.tail)
		})
	}
}
