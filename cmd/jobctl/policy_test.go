package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/policy/policytest"
)

const (
	testPolicy     = "testdata/policy/policy.yaml"
	refusedConfig  = "testdata/policy/refused.config.yaml"
	refusedPrefix  = "testdata/policy/refused.config.yaml"
	functionPrefix = "job/config.yaml (service level at 521747298a3790fde1710f3aa2d03b55020575aa)"
)

// refusals are what policy.yaml says about refused.config.yaml's second
// action, after the location prefix.
var refusals = []string{
	`:15:5: actions[1].namespace: namespace "prod" is refused by the operator's policy, rule namespaces (line 14) of testdata/policy/policy.yaml: allowed are keptn-jobs (the default), keptn-jobs, team-*`,
	`:15:5: actions[1].serviceAccount: service account "admin" is refused by the operator's policy, rule serviceAccounts (line 15) of testdata/policy/policy.yaml: allowed are keptn-job (the default), deployer`,
	`:21:9: actions[1].tasks[0].image: image "quay.io/acme/tool:1.0" is refused by the operator's policy, rule images.registries (line 4) of testdata/policy/policy.yaml: registry quay.io is not one of index.docker.io, ghcr.io`,
	`:23:9: actions[1].tasks[1].image: image "alpine:latest" (index.docker.io/library/alpine:latest) is refused by the operator's policy, rule images.deny[0] (line 5) of testdata/policy/policy.yaml: it matches the deny pattern "**:latest"`,
	`:25:9: actions[1].tasks[2].resources.limits.cpu: 4 is above the operator's ceiling 2 (rule resources.max.cpu (line 17) of testdata/policy/policy.yaml)`,
	`:29:9: actions[1].tasks[3].plugin: unknown plugin "keptn-contrib/nope": the operator's catalog has keptn-contrib/hello`,
}

func prefixed(prefix string, lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

func TestValidatePolicy(t *testing.T) {
	// Without --policy the default policy is in force, as in the function
	// without POLICY_FILE: no plugin catalog, so the plugin tasks fail.
	r := jobctl(t, "", "validate", refusedConfig)
	assert.Equal(t, exitInvalid, r.code)
	assert.Equal(t, refusedPrefix+`:9:9: actions[0].tasks[0].plugin: unknown plugin "keptn-contrib/hello": the operator's catalog has none
`+refusedPrefix+`:29:9: actions[1].tasks[3].plugin: unknown plugin "keptn-contrib/nope": the operator's catalog has none
`, r.stdout)

	r = jobctl(t, "", "validate", "--policy", testPolicy, refusedConfig)
	assert.Equal(t, exitInvalid, r.code)
	assert.Equal(t, prefixed(refusedPrefix, refusals), r.stdout)
	assert.Empty(t, r.stderr)

	// A config the policy allows (tagged docker.io images)...
	r = jobctl(t, "", "validate", "--policy", testPolicy, "testdata/render/multi.config.yaml")
	assert.Equal(t, exitOK, r.code, r.stdout)
	// ... and one it does not: "alpine" is alpine:latest.
	r = jobctl(t, "", "validate", "--policy", testPolicy, jobConfigs+"hello-world.yaml")
	assert.Equal(t, exitInvalid, r.code)
	assert.Equal(t, jobConfigs+`hello-world.yaml:8:9: actions[0].tasks[0].image: image "alpine" (index.docker.io/library/alpine:latest) is refused by the operator's policy, rule images.deny[0] (line 5) of testdata/policy/policy.yaml: it matches the deny pattern "**:latest"`+"\n", r.stdout)
}

func TestValidatePolicyJSON(t *testing.T) {
	r := jobctl(t, "", "validate", "-o", "json", "--policy", testPolicy, refusedConfig)
	assert.Equal(t, exitInvalid, r.code)
	assert.Contains(t, r.stdout, `"path": "actions[1].tasks[3].plugin",`)
	assert.Equal(t, len(refusals), strings.Count(r.stdout, `"severity": "error"`))
}

func TestPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: v1\nimages:\n  registrys: [ghcr.io]\n"), 0o644))
	r := jobctl(t, "", "validate", "--policy", bad, refusedConfig)
	assert.Equal(t, exitInvalid, r.code)
	assert.True(t, strings.HasPrefix(r.stderr, "jobctl: invalid policy:\n"+bad+":3:3: images.registrys: "), r.stderr)

	r = jobctl(t, "", "render", "--policy", filepath.Join(dir, "missing.yaml"), "--config", refusedConfig, "--event", testEvent)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "missing.yaml: no such file or directory")
}

// TestRenderPolicy: the allowed action's plugin task becomes the catalog's
// container; the refused action fails with the policy's reasons.
func TestRenderPolicy(t *testing.T) {
	r := jobctl(t, "", "render", "--policy", testPolicy, "--config", refusedConfig, "--event", testEvent)
	assert.Equal(t, exitInvalid, r.code)
	assert.Equal(t, `action "Refused" (actions[1]) would fail; its .finished event (status errored, result fail) says:
`+strings.TrimSuffix(prefixed(functionPrefix, refusals), "\n")+"\n", r.stderr)
	assert.Equal(t, 1, strings.Count(r.stdout, "\nkind: Job\n"))
	for _, want := range []string{
		"  namespace: team-a\n",
		"        - name: GREETING\n          value: hi\n        image: ghcr.io/acme/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
		"        command:\n        - echo\n",
	} {
		assert.Contains(t, r.stdout, want)
	}

	// Without --policy there is no catalog: the function fails both.
	r = jobctl(t, "", "render", "--config", refusedConfig, "--event", testEvent)
	assert.Equal(t, exitInvalid, r.code)
	assert.Contains(t, r.stderr, `action "Allowed" (actions[0]) would fail; its .finished event (status errored, result fail) says:
`+functionPrefix+`:9:9: actions[0].tasks[0].plugin: unknown plugin "keptn-contrib/hello": the operator's catalog has none
`)
	assert.Empty(t, r.stdout)
}

// TestPolicySignatures runs the binary against a cosign-signed image in a
// registry on loopback: a signed image is pinned by digest, an unsigned one
// refused, and an unreachable registry leaves the action unchecked.
func TestPolicySignatures(t *testing.T) {
	reg := policytest.NewRegistry(t)
	key := policytest.NewKey(t)
	signed := reg.Push("acme/tool", "1.0")
	reg.Sign(signed, key, "")
	reg.Push("acme/unsigned", "1.0")

	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	indented := "            " + strings.ReplaceAll(strings.TrimSpace(key.PublicPEM), "\n", "\n            ")
	require.NoError(t, os.WriteFile(pol, []byte(fmt.Sprintf(`apiVersion: v1
images:
  registries: [%[1]s]
  signatures:
    - name: acme key
      images: [%[1]s/acme/**]
      keys:
        - |
%[2]s
`, reg.Host(), indented)), 0o644))
	config := func(name, image string) string {
		f := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(f, []byte(fmt.Sprintf(`apiVersion: v2
actions:
  - name: run
    events:
      - name: sh.keptn.event.test.triggered
    tasks:
      - name: tool
        image: %s
`, image)), 0o644))
		return f
	}
	good := config("signed.yaml", reg.Host()+"/acme/tool:1.0")
	bad := config("unsigned.yaml", reg.Host()+"/acme/unsigned:1.0")

	r := jobctl(t, "", "render", "--policy", pol, "--config", good, "--event", testEvent)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "        image: "+signed.String()+"\n", "the verified digest is what runs")
	assert.Contains(t, r.stderr, "container task-0-tool: image "+signed.String()+" verified by rule images.signatures[0] (line 5) of "+pol+" (acme key): a signature in cosign's legacy layout", "which rule verified which image")

	r = jobctl(t, "", "validate", "--policy", pol, good)
	assert.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	assert.Regexp(t, `jobctl: `+regexpQuote(good)+`:\d+:\d+: image `+regexpQuote(signed.String())+` verified by rule images\.signatures\[0\] \(line 5\) of .*\(acme key\): a signature in cosign's legacy layout \(sha256-[0-9a-f]+\.sig\) verified with key 1 of the rule`, r.stderr)

	r = jobctl(t, "", "validate", "--policy", pol, bad)
	assert.Equal(t, exitInvalid, r.code)
	assert.Regexp(t, `^`+regexpQuote(bad)+`:7:9: actions\[0\]\.tasks\[0\]\.image: image "`+regexpQuote(reg.Host())+`/acme/unsigned:1\.0" \(.*\) is refused by the operator's policy, rule images\.signatures\[0\] .*acme key.*a signature by one of its keys is required`, r.stdout)

	reg.Close()
	r = jobctl(t, "", "render", "--policy", pol, "--config", good, "--event", testEvent)
	assert.Equal(t, exitUsage, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, `jobctl: action "run" (actions[0]) not checked against the policy, no Job printed: `)

	r = jobctl(t, "", "validate", "--policy", pol, good)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `jobctl: `+good+`: actions[0] ("run") not checked against the policy: `)
}

// TestPolicySecretLabels: Secret labels live in the cluster, so each
// Secret a task reads is a warning naming the label it must carry, with or
// without a policy (the built-in label), and the rest is still checked;
// the token Secret is refused offline (a hard rule).
func TestPolicySecretLabels(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(pol, []byte("apiVersion: v1\nsecrets:\n  requireLabel: acme.example/env=yes\n"), 0o644))
	r := jobctl(t, "", "validate", "--policy", pol, jobConfigs+"env.yaml")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, `env.yaml:40:13: actions[0].tasks[2].env[0]: warning: Secret "database-credentials" must carry the label acme.example/env=yes in namespace keptn-jobs`)
	assert.Contains(t, r.stderr, "checked in the cluster, not here")

	r = jobctl(t, "", "validate", jobConfigs+"env.yaml")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, `warning: Secret "database-credentials" must carry the label job-executor.keptn.sh/job-env=true in namespace keptn-jobs (rule secrets.requireLabel (built in)`)

	token := filepath.Join(dir, "token.yaml")
	require.NoError(t, os.WriteFile(token, []byte("apiVersion: v2\nactions:\n  - name: steal\n    events: [{name: sh.keptn.event.test.triggered}]\n    tasks:\n      - name: t\n        image: alpine:3.20\n        env: [{name: keptn-api-token, valueFrom: secret}]\n"), 0o644))
	r = jobctl(t, "", "validate", token)
	assert.Equal(t, exitInvalid, r.code, r.stderr)
	assert.Contains(t, r.stdout, `token.yaml:8:15: actions[0].tasks[0].env[0]: Secret "keptn-api-token" holds the Keptn API token (KEPTN_API_TOKEN_SECRET): only the file fetcher may read it, never a task`)

	// Configs that read no Secret are fully checked.
	r = jobctl(t, "", "validate", "--policy", pol, jobConfigs+"hello-world.yaml")
	assert.Equal(t, exitOK, r.code, r.stderr)
}

// TestPolicyGapsRefusedOffline: what issue 16 point 8 found accepted is
// refused by validate and by render alike, with the line, as the function
// refuses it (they share jobconfig.Parse and policy.Admit).
func TestPolicyGapsRefusedOffline(t *testing.T) {
	dir := t.TempDir()
	head := "apiVersion: v2\nactions:\n  - name: a\n    events: [{name: sh.keptn.event.test.triggered}]\n"
	task := "    tasks:\n      - name: t\n        image: alpine:3.20\n"
	for name, tc := range map[string]struct{ config, want string }{
		"maxPollDuration MaxInt64": {head + task + "        maxPollDuration: 9223372036854775807\n", "maxPollDuration: must be a positive number of seconds up to 604800"},
		"runAsGroup 0":             {head + task + "        securityContext: {runAsGroup: 0}\n", "securityContext.runAsGroup: 0 (the root group) is not allowed"},
		"toleration of everything": {head + "    tolerations: [{operator: Exists}]\n" + task, "actions[0].tolerations[0]: a toleration without a key tolerates every taint"},
		"control-plane nodeSelector": {head + "    nodeSelector: {node-role.kubernetes.io/control-plane: \"\"}\n" + task,
			"actions[0].nodeSelector.node-role.kubernetes.io/control-plane: selects control-plane nodes"},
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			require.NoError(t, os.WriteFile(file, []byte(tc.config), 0o644))
			r := jobctl(t, "", "validate", file)
			assert.Equal(t, exitInvalid, r.code, r.stderr)
			assert.Contains(t, r.stdout, tc.want)
			r = jobctl(t, "", "render", "--config", file, "--event", testEvent)
			assert.Equal(t, exitInvalid, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stdout, "kind: Job")
		})
	}
}
