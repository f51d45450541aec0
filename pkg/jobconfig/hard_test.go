package jobconfig

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
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
			`job/config.yaml:9:39: actions[0].tasks[0].securityContext.privileged: true is not allowed: privileged (container "task" must not set securityContext.privileged=true): jobs run under Pod Security "restricted"`}},
		{"allowPrivilegeEscalation", head + "        securityContext: {allowPrivilegeEscalation: true}\n", []string{
			`job/config.yaml:9:53: actions[0].tasks[0].securityContext.allowPrivilegeEscalation: true is not allowed: allowPrivilegeEscalation != false (container "task" must set securityContext.allowPrivilegeEscalation=false): jobs run under Pod Security "restricted"`}},
		{"runAsUser 0", head + "        securityContext: {runAsUser: 0}\n", []string{
			`job/config.yaml:9:38: actions[0].tasks[0].securityContext.runAsUser: 0 (root) is not allowed: runAsUser=0 (container "task" must not set runAsUser=0): jobs run under Pod Security "restricted"`}},
		{"runAsNonRoot false", head + "        securityContext: {runAsNonRoot: false}\n", []string{
			`job/config.yaml:9:41: actions[0].tasks[0].securityContext.runAsNonRoot: false is not allowed: runAsNonRoot != true (container "task" must not set securityContext.runAsNonRoot=false): jobs run under Pod Security "restricted"`}},
		{"seccomp Unconfined", head + "        securityContext: {seccompProfile: {type: Unconfined}}\n", []string{
			`job/config.yaml:9:50: actions[0].tasks[0].securityContext.seccompProfile.type: "Unconfined" is not allowed: seccompProfile (container "task" must not set securityContext.seccompProfile.type to "Unconfined"): jobs run under Pod Security "restricted"`}},
		{"procMount Unmasked", head + "        securityContext: {procMount: Unmasked}\n", []string{
			`job/config.yaml:9:38: actions[0].tasks[0].securityContext.procMount: "Unmasked" is not allowed: procMount (container "task" must not set securityContext.procMount to "Unmasked"): jobs run under Pod Security "restricted"`}},
		{"merged in", head + "        securityContext: {<<: {privileged: true}, readOnlyRootFilesystem: true}\n", []string{
			`job/config.yaml:9:44: actions[0].tasks[0].securityContext.privileged: true is not allowed: privileged (container "task" must not set securityContext.privileged=true): jobs run under Pod Security "restricted"`}},
		{"merged from a list, under an explicit false", head + "        securityContext: {<<: [{privileged: false}, {allowPrivilegeEscalation: true}], privileged: false}\n", []string{
			`job/config.yaml:9:80: actions[0].tasks[0].securityContext.allowPrivilegeEscalation: true is not allowed: allowPrivilegeEscalation != false (container "task" must set securityContext.allowPrivilegeEscalation=false): jobs run under Pod Security "restricted"`}},
		{"every violation, each at its own line", head + "        securityContext: {privileged: true, runAsUser: 0}\n", []string{
			`job/config.yaml:9:39: actions[0].tasks[0].securityContext.privileged: true is not allowed: privileged (container "task" must not set securityContext.privileged=true): jobs run under Pod Security "restricted"`,
			`job/config.yaml:9:56: actions[0].tasks[0].securityContext.runAsUser: 0 (root) is not allowed: runAsUser=0 (container "task" must not set runAsUser=0): jobs run under Pod Security "restricted"`}},
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

// SecurityContextViolations is Kubernetes' evaluator, so it also refuses
// what the hand-written rules it replaced never looked at: fields a config
// cannot write (the parser's subset) but a config built by hand can.
// Capabilities stay the policy's (pods.allowNetBindService).
func TestSecurityContextViolations(t *testing.T) {
	tests := []struct {
		name string
		sc   *corev1.SecurityContext
		want []HardViolation
	}{
		{"none", nil, nil},
		{"the builder's defaults", &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), ReadOnlyRootFilesystem: ptr.To(false)}, []HardViolation{}},
		{"Localhost seccomp", &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("p.json")}}, []HardViolation{}},
		{"capabilities are the policy's", &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}, []HardViolation{}},
		{"seLinuxOptions type", &corev1.SecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Type: "spc_t"}}, []HardViolation{
			{"seLinuxOptions", "", `seLinuxOptions (container "task" set forbidden securityContext.seLinuxOptions: type "spc_t")`}}},
		{"AppArmor Unconfined", &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}}, []HardViolation{
			{"appArmorProfile.type", `"Unconfined"`, `forbidden AppArmor profile (container "task" must not set AppArmor profile type to "Unconfined")`}}},
		{"Windows hostProcess", &corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}}, []HardViolation{
			{"windowsOptions.hostProcess", "true", `hostProcess (container "task" must not set securityContext.windowsOptions.hostProcess=true)`}}},
		{"privileged and Unconfined, in the evaluator's order", &corev1.SecurityContext{Privileged: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}, []HardViolation{
			{"privileged", "true", `privileged (container "task" must not set securityContext.privileged=true)`},
			{"seccompProfile.type", `"Unconfined"`, `seccompProfile (container "task" must not set securityContext.seccompProfile.type to "Unconfined")`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SecurityContextViolations(tc.sc)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			for _, v := range got {
				assert.Contains(t, v.Message(), v.Reason+`: jobs run under Pod Security "restricted"`)
			}
		})
	}
}

// An evaluator check no field of ours maps to still refuses, at the
// securityContext itself.
func TestHardViolationMessage(t *testing.T) {
	assert.Equal(t, `not allowed: new check (detail): jobs run under Pod Security "restricted"`, HardViolation{Reason: "new check (detail)"}.Message())
}
