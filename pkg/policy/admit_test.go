package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
)

// refusedAt asserts err is a refusal with a message at line that contains
// every want.
func refusedAt(t *testing.T, err error, line int, want ...string) {
	t.Helper()
	require.Error(t, err)
	require.True(t, IsRefusal(err), "a refusal, not a failure to decide: %v", err)
	require.False(t, IsUnavailable(err))
	var list jobconfig.ErrorList
	require.ErrorAs(t, err, &list)
	for _, e := range list {
		ok := e.Line == line
		for _, w := range want {
			ok = ok && strings.Contains(e.Error(), w)
		}
		if ok {
			return
		}
	}
	t.Fatalf("want a refusal at line %d containing %q; got:\n%v", line, want, err)
}

func TestImageRules(t *testing.T) {
	const policy = `apiVersion: v1
images:
  registries: [ghcr.io, docker.io]
  allow:
    - ghcr.io/acme/**
    - alpine:3.*
  deny:
    - ghcr.io/acme/bad/**
`
	// The task starts on line 7 of configYAML's output: the refusal points there.
	tests := []struct {
		name    string
		image   string
		refused []string // nil: admitted
	}{
		{"allowed by a ** pattern", "ghcr.io/acme/a/b:1", nil},
		{"allowed official image with a matching tag", "docker.io/library/alpine:3.20", nil},
		{"bare name normalised the same way", "alpine:3.19", nil},
		{"registry not listed", "quay.io/acme/a:1", []string{`"quay.io/acme/a:1"`, "images.registries (line 3) of policy.yaml", "registry quay.io is not one of ghcr.io, index.docker.io"}},
		{"JES-style * does not cross /", "docker.io/evil/miner:1", []string{"images.allow (line 4)", "matches none of the allowed patterns"}},
		{"implicit latest is a tag like any other", "alpine", []string{`"alpine" (index.docker.io/library/alpine:latest)`, "images.allow"}},
		{"deny wins over allow", "ghcr.io/acme/bad/x:1", []string{"images.deny[0] (line 8)", `deny pattern "ghcr.io/acme/bad/**"`}},
		{"not a reference", "UPPER/case", []string{"rule image reference", "not a valid image reference"}},
	}
	p := parsePolicy(t, policy)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := admit(t, p, configYAML(withImageTask(tt.image)), testEvent())
			if tt.refused == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.image, out.Actions[0].Tasks[0].Image, "no signature rule: the image is left as written")
				return
			}
			refusedAt(t, err, 7, append(tt.refused, "actions[0].tasks[0].image", "job/config.yaml")...)
		})
	}
}

func TestEmptyListsAllowNothing(t *testing.T) {
	p := parsePolicy(t, "apiVersion: v1\nimages:\n  registries: []\n")
	_, err := admit(t, p, configYAML(withImageTask("ghcr.io/a/b:1")), testEvent())
	refusedAt(t, err, 7, "registry ghcr.io is not one of (none)")

	p = parsePolicy(t, "apiVersion: v1\nimages:\n  allow: []\n")
	_, err = admit(t, p, configYAML(withImageTask("ghcr.io/a/b:1")), testEvent())
	refusedAt(t, err, 7, "matches none of the allowed patterns (none)")
}

func TestRequireDigest(t *testing.T) {
	p := parsePolicy(t, "apiVersion: v1\nimages:\n  requireDigest: true\n")
	_, err := admit(t, p, configYAML(withImageTask("ghcr.io/a/b:1")), testEvent())
	refusedAt(t, err, 7, "images.requireDigest (line 3)", "pinned by digest")

	out, err := admit(t, p, configYAML(withImageTask("ghcr.io/a/b@sha256:"+hex64)), testEvent())
	require.NoError(t, err)
	assert.Equal(t, "ghcr.io/a/b@sha256:"+hex64, out.Actions[0].Tasks[0].Image)
}

func TestDefaultPolicyAdmitsAnyImage(t *testing.T) {
	out, err := admit(t, Default(), configYAML(withImageTask("docker.io/evil/miner")), testEvent())
	require.NoError(t, err)
	assert.Equal(t, "docker.io/evil/miner", out.Actions[0].Tasks[0].Image)
}

func TestPluginsOnly(t *testing.T) {
	p := parsePolicy(t, "apiVersion: v1\npluginsOnly: true\nplugins:\n  echo: {image: \"ghcr.io/a/echo@sha256:"+hex64+"\"}\n")
	_, err := admit(t, p, configYAML(withImageTask("alpine")), testEvent())
	refusedAt(t, err, 7, `image "alpine" is refused`, "pluginsOnly", "only plugin tasks")

	_, err = admit(t, p, configYAML(withTask("plugin: echo")), testEvent())
	require.NoError(t, err)
}

// A task pod gets an API token only under an account the operator listed,
// and never under "default" (issue 16 point 1: `serviceAccount: default`
// ran with its token mounted).
func TestServiceAccountTokens(t *testing.T) {
	listed := parsePolicy(t, "apiVersion: v1\nserviceAccounts: [deployer, default]\n")
	tests := []struct {
		name    string
		p       *Policy
		account string
		token   bool
	}{
		{"no account named", Default(), "", false},
		{"no policy, account named", Default(), "deployer", false},
		{"no policy, default named", Default(), "default", false},
		{"listed account", listed, "deployer", true},
		{"default, even listed", listed, "default", false},
		{"operator's default account", listed, "keptn-job", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []actionOpt{withImageTask("alpine")}
			if tt.account != "" {
				opts = append([]actionOpt{withField("serviceAccount: " + tt.account)}, opts...)
			}
			cfg := parseConfig(t, configYAML(opts...))
			job, err := tt.p.Build(context.Background(), cfg, 0, testEvent(), testSettings())
			require.NoError(t, err)
			spec := job.Spec.Template.Spec
			require.NotNil(t, spec.AutomountServiceAccountToken)
			assert.Equal(t, tt.token, *spec.AutomountServiceAccountToken)
		})
	}
}

// Issue 16 point 8: a toleration of every taint, and control-plane nodes
// by nodeSelector, affinity or toleration, were accepted with no policy
// key to govern them.
func TestPlacement(t *testing.T) {
	allow := parsePolicy(t, "apiVersion: v1\npods:\n  allowControlPlane: true\n")
	tests := []struct {
		name    string
		field   string
		def     []string // refusal under the default policy ("" = admitted)
		allowed []string // under pods.allowControlPlane
	}{
		{"ordinary toleration", "tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]", nil, nil},
		{"ordinary nodeSelector", "nodeSelector: {disktype: ssd}", nil, nil},
		{"toleration of everything", "tolerations: [{operator: Exists}]",
			[]string{"actions[0].tolerations[0]", "tolerates every taint"}, []string{"tolerates every taint"}},
		{"control-plane toleration", "tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]",
			[]string{"actions[0].tolerations[0]", "control-plane nodes", "pods.allowControlPlane"}, nil},
		{"control-plane nodeSelector", "nodeSelector: {node-role.kubernetes.io/control-plane: \"\"}",
			[]string{"actions[0].nodeSelector.node-role.kubernetes.io/control-plane", "selects control-plane nodes"}, nil},
		{"master nodeSelector", "nodeSelector: {node-role.kubernetes.io/master: \"\"}", []string{"selects control-plane nodes"}, nil},
		{"control-plane affinity", "affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: node-role.kubernetes.io/control-plane, operator: Exists}]}]}}}",
			[]string{"actions[0].affinity.nodeAffinity", "selects control-plane nodes"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				p    *Policy
				want []string
			}{{Default(), tt.def}, {allow, tt.allowed}} {
				_, err := admit(t, c.p, configYAML(withField(tt.field), withImageTask("alpine")), testEvent())
				if c.want == nil {
					require.NoError(t, err)
					continue
				}
				refusedAt(t, err, 3, c.want...)
			}
		})
	}
}

func TestScopes(t *testing.T) {
	p := parsePolicy(t, "apiVersion: v1\nnamespaces: [team-*]\nserviceAccounts: [deployer]\n")
	tests := []struct {
		name    string
		fields  []string
		refused []string
	}{
		{"defaults always allowed", nil, nil},
		{"default namespace named explicitly", []string{"namespace: keptn-jobs"}, nil},
		{"namespace by pattern", []string{"namespace: team-a"}, nil},
		{"namespace refused", []string{"namespace: kube-system"}, []string{`namespace "kube-system" is refused`, "rule namespaces (line 2)", "keptn-jobs (the default), team-*"}},
		{"service account allowed", []string{"serviceAccount: deployer"}, nil},
		{"service account refused", []string{"serviceAccount: cluster-admin"}, []string{`service account "cluster-admin" is refused`, "rule serviceAccounts (line 3)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []actionOpt
			for _, f := range tt.fields {
				opts = append(opts, withField(f))
			}
			opts = append(opts, withImageTask("alpine"))
			_, err := admit(t, p, configYAML(opts...), testEvent())
			if tt.refused == nil {
				require.NoError(t, err)
				return
			}
			refusedAt(t, err, 3, tt.refused...)
		})
	}
}

func TestAddedCapabilities(t *testing.T) {
	add := func(c string) actionOpt {
		return withImageTask("alpine", "securityContext:", "  capabilities:", "    add: ["+c+"]")
	}
	_, err := admit(t, Default(), configYAML(add("NET_BIND_SERVICE")), testEvent())
	refusedAt(t, err, 7, "securityContext.capabilities.add", `adding capability "NET_BIND_SERVICE" is refused`)

	p := parsePolicy(t, "apiVersion: v1\npods:\n  allowNetBindService: true\n")
	_, err = admit(t, p, configYAML(add("NET_BIND_SERVICE")), testEvent())
	require.NoError(t, err)
	_, err = admit(t, p, configYAML(add("SYS_ADMIN")), testEvent())
	refusedAt(t, err, 7, `"SYS_ADMIN"`)
}

func TestResourceCeilings(t *testing.T) {
	p := parsePolicy(t, "apiVersion: v1\nresources:\n  max: {cpu: \"2\", memory: 1Gi}\n")
	res := func(lines ...string) actionOpt {
		return withImageTask("alpine", append([]string{"resources:"}, lines...)...)
	}
	_, err := admit(t, p, configYAML(res("  limits: {cpu: \"2\", memory: 1Gi}", "  requests: {ephemeral-storage: 5Gi}")), testEvent())
	require.NoError(t, err, "at the ceiling; unlisted standard resources are not bounded")

	_, err = admit(t, p, configYAML(res("  limits: {cpu: \"3\"}")), testEvent())
	refusedAt(t, err, 7, "actions[0].tasks[0].resources.limits.cpu", "3 is above the operator's ceiling 2", "resources.max.cpu (line 3)")

	_, err = admit(t, p, configYAML(res("  requests: {memory: 2Gi}")), testEvent())
	refusedAt(t, err, 7, "resources.requests.memory", "2Gi is above the operator's ceiling 1Gi")

	_, err = admit(t, p, configYAML(res("  limits: {nvidia.com/gpu: 1}")), testEvent())
	refusedAt(t, err, 7, "resources.limits.nvidia.com/gpu", "not offered by the operator")
}

func TestEventBytes(t *testing.T) {
	p := parsePolicy(t, "apiVersion: v1\nlimits:\n  eventBytes: 200\n")
	_, err := admit(t, p, configYAML(withImageTask("alpine")), testEvent())
	require.NoError(t, err)
	_, err = admit(t, p, configYAML(withImageTask("alpine")), testEvent(withData("blob", strings.Repeat("x", 300))))
	require.True(t, IsRefusal(err), "%v", err)
	assert.ErrorContains(t, err, "allows at most 200")
	assert.ErrorContains(t, err, "limits.eventBytes (line 3)")
}

func TestSecretOptInLabel(t *testing.T) {
	store := &secretStore{labels: map[string]map[string]string{
		"keptn-jobs/opted-in":  {"job-executor.keptn.sh/job-env": "true"},
		"keptn-jobs/other":     {"job-executor.keptn.sh/job-env": "false"},
		"team-a/opted-in-else": {"job-executor.keptn.sh/job-env": "true"},
	}}
	p := parsePolicy(t, "apiVersion: v1\nsecrets:\n  requireLabel: job-executor.keptn.sh/job-env\n", WithSecrets(store))
	whole := func(name string) actionOpt {
		return withImageTask("alpine", "env:", "  - name: "+name, "    valueFrom: secret")
	}
	oneKey := func(name string) actionOpt {
		return withImageTask("alpine", "env:", "  - name: TOKEN", "    valueFrom:", "      secretKeyRef: {name: "+name+", key: token}")
	}
	_, err := admit(t, p, configYAML(whole("opted-in")), testEvent())
	require.NoError(t, err)
	_, err = admit(t, p, configYAML(oneKey("opted-in")), testEvent())
	require.NoError(t, err)

	_, err = admit(t, p, configYAML(whole("other")), testEvent())
	refusedAt(t, err, 10, "actions[0].tasks[0].env[0]", `Secret "other" in namespace keptn-jobs is refused`, "secrets.requireLabel (line 3)", "job-executor.keptn.sh/job-env=true")
	_, err = admit(t, p, configYAML(oneKey("missing")), testEvent())
	refusedAt(t, err, 10, `Secret "missing" does not exist in namespace keptn-jobs`)

	// The label is looked up in the job's namespace: a Secret of the same
	// name that opted in elsewhere does not count.
	_, err = admit(t, p, configYAML(withField("namespace: team-a"), whole("opted-in")), testEvent())
	refusedAt(t, err, 11, `Secret "opted-in" does not exist in namespace team-a`)

	store.err = apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "x", errors.New("rbac"))
	_, err = admit(t, p, configYAML(whole("opted-in")), testEvent())
	refusedAt(t, err, 10, "may not read Secret", "needs get on secrets")

	store.err = apierrors.NewServiceUnavailable("apiserver restarting")
	_, err = admit(t, p, configYAML(whole("opted-in")), testEvent())
	require.Error(t, err)
	assert.True(t, IsUnavailable(err), "API trouble is retried, not a refusal")
	assert.False(t, IsRefusal(err))
}

// Without a policy Secrets still opt in, by the built-in label (issue 16
// point 1: `valueFrom: secret` read any Secret of the job namespace, the
// fetcher's token included), and imagePullSecrets opt in the same way.
func TestDefaultPolicyRequiresTheOptInLabel(t *testing.T) {
	store := &secretStore{labels: map[string]map[string]string{
		"keptn-jobs/opted-in": {"job-executor.keptn.sh/job-env": "true"},
		"keptn-jobs/plain":    {},
	}}
	p := Default(WithSecrets(store))
	env := func(name string) actionOpt {
		return withImageTask("alpine", "env:", "  - name: "+name, "    valueFrom: secret")
	}
	_, err := admit(t, p, configYAML(env("opted-in")), testEvent())
	require.NoError(t, err)
	_, err = admit(t, p, configYAML(env("plain")), testEvent())
	refusedAt(t, err, 10, `Secret "plain" in namespace keptn-jobs is refused`, "secrets.requireLabel (built in)", "job-executor.keptn.sh/job-env=true")
	_, err = admit(t, p, configYAML(withField("imagePullSecrets: [opted-in, plain]"), withImageTask("alpine")), testEvent())
	refusedAt(t, err, 3, "actions[0].imagePullSecrets[1]", `Secret "plain"`)
	assert.NotContains(t, err.Error(), "imagePullSecrets[0]")
}

// The fetcher's token Secret is never a task's, whatever its labels and
// whatever the policy (a hard rule): env, secretKeyRef and imagePullSecrets.
func TestTokenSecretIsNeverATasks(t *testing.T) {
	store := &secretStore{labels: map[string]map[string]string{
		"keptn-jobs/keptn-api-token": {"job-executor.keptn.sh/job-env": "true"},
	}}
	for name, opts := range map[string][]actionOpt{
		"valueFrom secret": {withImageTask("alpine", "env:", "  - name: keptn-api-token", "    valueFrom: secret")},
		"secretKeyRef":     {withImageTask("alpine", "env:", "  - name: T", "    valueFrom:", "      secretKeyRef: {name: keptn-api-token, key: token}")},
		"imagePullSecrets": {withField("imagePullSecrets: [keptn-api-token]"), withImageTask("alpine")},
	} {
		t.Run(name, func(t *testing.T) {
			for _, p := range []*Policy{Default(WithSecrets(store)), parsePolicy(t, "apiVersion: v1\nsecrets:\n  requireLabel: job-executor.keptn.sh/job-env\n", WithSecrets(store))} {
				_, err := admit(t, p, configYAML(opts...), testEvent())
				require.True(t, IsRefusal(err), "%v", err)
				assert.ErrorContains(t, err, `Secret "keptn-api-token" holds the Keptn API token (KEPTN_API_TOKEN_SECRET): only the file fetcher may read it`)
			}
		})
	}
}

func TestAdmitLeavesTheInputConfigAlone(t *testing.T) {
	p := parsePolicy(t, "apiVersion: v1\nplugins:\n  echo: {image: \"ghcr.io/a/echo@sha256:"+hex64+"\", command: [echo]}\n")
	cfg := parseConfig(t, configYAML(withTask("plugin: echo")))
	out, err := p.Admit(context.Background(), cfg, 0, testEvent(), testSettings())
	require.NoError(t, err)
	assert.Equal(t, "echo", cfg.Actions[0].Tasks[0].Plugin, "the cached config is shared between events")
	assert.Empty(t, out.Actions[0].Tasks[0].Plugin)
}

func TestAdmitRefusesActionOutOfRange(t *testing.T) {
	_, err := Default().Admit(context.Background(), parseConfig(t, configYAML(withImageTask("alpine"))), 3, testEvent(), testSettings())
	require.Error(t, err)
}
