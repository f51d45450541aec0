package jobconfig

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Everything the function would refuse without an event is refused by the
// parser, with its line, so that jobctl validate, jobctl render and the
// function answer alike (issue 16, point 9).
func TestParseRefusesWhatNoPolicyAllows(t *testing.T) {
	long := strings.Repeat("a", 256)
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"privileged", head + "        securityContext: {privileged: true}\n", []string{
			`job/config.yaml:9:39: actions[0].tasks[0].securityContext.privileged: true is not allowed: jobs run under Pod Security "restricted"`}},
		{"allowPrivilegeEscalation", head + "        securityContext: {allowPrivilegeEscalation: true}\n", []string{
			`job/config.yaml:9:53: actions[0].tasks[0].securityContext.allowPrivilegeEscalation: true is not allowed: jobs run under Pod Security "restricted"`}},
		{"runAsUser 0", head + "        securityContext: {runAsUser: 0}\n", []string{
			`job/config.yaml:9:38: actions[0].tasks[0].securityContext.runAsUser: 0 (root) is not allowed: jobs run under Pod Security "restricted"`}},
		{"runAsNonRoot false", head + "        securityContext: {runAsNonRoot: false}\n", []string{
			`job/config.yaml:9:41: actions[0].tasks[0].securityContext.runAsNonRoot: false is not allowed: jobs run under Pod Security "restricted"`}},
		{"seccomp Unconfined", head + "        securityContext: {seccompProfile: {type: Unconfined}}\n", []string{
			`job/config.yaml:9:50: actions[0].tasks[0].securityContext.seccompProfile.type: "Unconfined" is not allowed: jobs run under Pod Security "restricted"`}},
		{"procMount Unmasked", head + "        securityContext: {procMount: Unmasked}\n", []string{
			`job/config.yaml:9:38: actions[0].tasks[0].securityContext.procMount: "Unmasked" is not allowed: jobs run under Pod Security "restricted"`}},
		{"merged in", head + "        securityContext: {<<: {privileged: true}, readOnlyRootFilesystem: true}\n", []string{
			`job/config.yaml:9:44: actions[0].tasks[0].securityContext.privileged: true is not allowed: jobs run under Pod Security "restricted"`}},
		{"merged from a list, under an explicit false", head + "        securityContext: {<<: [{privileged: false}, {allowPrivilegeEscalation: true}], privileged: false}\n", []string{
			`job/config.yaml:9:80: actions[0].tasks[0].securityContext.allowPrivilegeEscalation: true is not allowed: jobs run under Pod Security "restricted"`}},
		{"reserved annotation", head + "        annotations: {jobs.keptn.sh/origin: forged}\n", []string{
			`job/config.yaml:9:23: actions[0].tasks[0].annotations["jobs.keptn.sh/origin"]: the jobs.keptn.sh/ prefix is reserved: the function reports on its Jobs through these annotations`}},
		{"reserved annotation, other case", "apiVersion: v2\nactions:\n  - name: a\n    event: sh.keptn.event.test.triggered\n    image: alpine\n    annotations: {JOBS.keptn.sh/claim: x}\n", []string{
			`job/config.yaml:6:19: actions[0].annotations["JOBS.keptn.sh/claim"]: the jobs.keptn.sh/ prefix is reserved: the function reports on its Jobs through these annotations`}},
		{"file //x", head + "        files: [//x]\n", []string{
			`job/config.yaml:9:17: actions[0].tasks[0].files[0]: the file fetcher would refuse it: invalid resource URI "//x": absolute path`}},
		{"file with backslashes", head + "        files: ['..\\..\\x']\n", []string{
			`job/config.yaml:9:17: actions[0].tasks[0].files[0]: the file fetcher would refuse it: invalid resource URI "..\\..\\x": contains '\\'`}},
		{"file segment over 255 bytes", head + "        files: [d/" + long + "]\n", []string{
			`job/config.yaml:9:17: actions[0].tasks[0].files[0]: the file fetcher would refuse it: invalid resource URI "d/` + long + `": path segment longer than 255 bytes`}},
		{"file path over 4096 bytes", head + "        files: [" + strings.Repeat("abcdefg/", 513) + "x]\n", []string{
			`job/config.yaml:9:17: actions[0].tasks[0].files[0]: the file fetcher would refuse it: invalid resource URI "` + strings.Repeat("abcdefg/", 513) + `x": longer than 4096 bytes`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("job/config.yaml", []byte(tc.yaml))
			var list ErrorList
			require.ErrorAs(t, err, &list)
			got := make([]string, len(list))
			for i, e := range list {
				got[i] = e.Error()
			}
			assert.Equal(t, tc.want, got)
		})
	}
	t.Run("allowed", func(t *testing.T) {
		for _, ok := range []string{
			"securityContext: {privileged: false, allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 1000, procMount: Default}",
			"securityContext: {seccompProfile: {type: Localhost, localhostProfile: p.json}}",
			"annotations: {jobs.example.com/x: y, keptn.sh/x: y}",
			"files: [/helm/, locust/basic.py, a/b/c]",
		} {
			_, err := Parse("job/config.yaml", []byte(head+"        "+ok+"\n"))
			assert.NoError(t, err, ok)
		}
	})
}
