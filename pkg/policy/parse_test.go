package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
)

func TestExamplePolicyParses(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	require.NoError(t, err)
	p, err := Parse("testdata/example.yaml", data, WithSecrets(&secretStore{}))
	require.NoError(t, err)

	assert.Len(t, p.images.registries, 2)
	assert.Len(t, p.images.allow, 3)
	assert.Len(t, p.images.deny, 2)
	require.Len(t, p.images.signatures, 2)
	assert.Equal(t, "acme release key", p.images.signatures[0].Name)
	assert.Len(t, p.images.signatures[0].verifier, 1)
	assert.True(t, p.images.signatures[0].matchIdentity, "identity is checked unless turned off")
	assert.False(t, p.images.signatures[0].requireTlog, "a key rule accepts a bundle without a log entry unless it says otherwise")
	keyless := p.images.signatures[1]
	require.Len(t, keyless.identities, 1)
	assert.Contains(t, keyless.identities[0].text, `issuer "https://token.actions.githubusercontent.com"`)
	assert.True(t, keyless.requireTlog, "identities require a log entry by default")
	require.NotNil(t, keyless.trust)
	assert.Equal(t, &ConfigMapRef{Name: "sigstore-trusted-root", Key: "trusted_root.json"}, keyless.trust.configMap)

	require.Contains(t, p.plugins, "keptn-contrib/locust-test-job")
	locust := p.plugins["keptn-contrib/locust-test-job"]
	assert.Equal(t, []string{"locust"}, locust.Command)
	assert.True(t, locust.With["LOCUST_TEST"].Required)
	assert.Equal(t, "LOCUST_USERS", locust.With["USERS"].Env)
	assert.Equal(t, "10", locust.With["USERS"].Default)
	assert.Equal(t, "false", locust.With["HTML_REPORT"].Default)
	assert.True(t, locust.AllowEnv, "env is allowed on plugin tasks unless pluginsOnly")

	assert.Equal(t, "job-executor.keptn.sh/job-env", p.secretLabel.Key)
	assert.Equal(t, "true", p.secretLabel.Value)
	assert.Equal(t, resource.MustParse("2Gi"), p.resources.max["memory"])
	assert.Equal(t, jobconfig.Limits{MaxBytes: 131072, MaxActions: 32, MaxEventsPerAction: 16, MaxTasksPerAction: 16, MaxEnvPerTask: 64, MaxFilesPerTask: 128}, p.ConfigLimits())
	assert.Equal(t, 65536, p.limits.EventBytes)
}

func TestParseErrorsNameLineAndField(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		line int
		path string
		msg  string
	}{
		{"missing apiVersion", "images: {}\n", 1, "apiVersion", "required"},
		{"wrong apiVersion", "apiVersion: v9\n", 1, "apiVersion", `"v9" is not supported`},
		{"unknown top key with suggestion", "apiVersion: v1\nimage: {}\n", 2, "image", `did you mean "images"`},
		{"duplicate key", "apiVersion: v1\npluginsOnly: false\npluginsOnly: true\n", 3, "pluginsOnly", "duplicate field"},
		{"registry with a path", "apiVersion: v1\nimages:\n  registries: [ghcr.io/acme]\n", 3, "images.registries[0]", "without a path"},
		{"bad allow pattern", "apiVersion: v1\nimages:\n  allow:\n    - ok/x\n    - \"a?b\"\n", 5, "images.allow[1]", "not allowed in a pattern"},
		{"docker.io/* matches nothing", "apiVersion: v1\nimages:\n  deny: [docker.io/*]\n", 3, "images.deny[0]", "matches no image"},
		{"requireDigest not a bool", "apiVersion: v1\nimages:\n  requireDigest: yes please\n", 3, "images.requireDigest", "true or false"},
		{"signature without keys", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n", 4, "images.signatures[0].keys", "required"},
		{"signature key not PEM", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      keys: [nope]\n", 5, "images.signatures[0].keys[0]", "not a PEM public key"},
		{"plugin image by tag", "apiVersion: v1\nplugins:\n  p:\n    image: ghcr.io/acme/p:1\n", 4, `plugins["p"].image`, "pinned by digest"},
		{"plugin without image", "apiVersion: v1\nplugins:\n  p:\n    command: [x]\n", 4, `plugins["p"].image`, "required"},
		{"plugin param bad type", "apiVersion: v1\nplugins:\n  p:\n    image: a@sha256:" + hex64 + "\n    with:\n      N: {type: float}\n", 6, `plugins["p"].with["N"].type`, "string, int or bool"},
		{"plugin default of wrong type", "apiVersion: v1\nplugins:\n  p:\n    image: a@sha256:" + hex64 + "\n    with:\n      N:\n        type: int\n        default: ten\n", 8, `plugins["p"].with["N"].default`, "must be an integer"},
		{"required with default", "apiVersion: v1\nplugins:\n  p:\n    image: a@sha256:" + hex64 + "\n    with:\n      N: {required: true, default: x}\n", 6, `plugins["p"].with["N"].default`, "no default"},
		{"two params one variable", "apiVersion: v1\nplugins:\n  p:\n    image: a@sha256:" + hex64 + "\n    with:\n      A: {env: X}\n      B: {env: X}\n", 4, `plugins["p"].with["B"]`, "sets variable X"},
		{"pluginsOnly without catalog", "apiVersion: v1\npluginsOnly: true\n", 1, "pluginsOnly", "needs a plugins catalog"},
		{"namespace not a name", "apiVersion: v1\nnamespaces: [Team_A]\n", 2, "namespaces[0]", "not a valid name"},
		{"label without value", "apiVersion: v1\nsecrets:\n  requireLabel: \"k=\"\n", 3, "secrets.requireLabel", "must not be empty"},
		{"unknown resource", "apiVersion: v1\nresources:\n  max: {gpu: 1}\n", 3, "resources.max.gpu", "unknown resource"},
		{"default above max", "apiVersion: v1\nresources:\n  defaults:\n    limits: {cpu: 4}\n  max: {cpu: 2}\n", 3, "resources.defaults", "above max.cpu"},
		{"limit not positive", "apiVersion: v1\nlimits:\n  eventBytes: 0\n", 3, "limits.eventBytes", "positive integer"},
		{"alias refused", "apiVersion: v1\nnamespaces: &n [a]\nserviceAccounts: *n\n", 3, "serviceAccounts", "aliases are not supported"},
		{"alias in a list refused", "apiVersion: v1\nnamespaces: [&n a]\nserviceAccounts: [b, *n]\n", 3, "serviceAccounts[1]", "aliases are not supported in the policy: write the value out"},
		{"empty string wanted", "apiVersion: v1\nimages:\n  allow: [~]\n", 3, "images.allow[0]", "must be a string (got null); quote it"},
		{"yaml syntax", "apiVersion: v1\nimages: [\n", 2, "", "invalid YAML"},
		{"string wanted", "apiVersion: v1\nimages:\n  allow: [1.10]\n", 3, "images.allow[0]", "quote it"},
		// Issue 16 point 8: keys that look like rules in force but are not.
		{"allow without value", "apiVersion: v1\nimages:\n  allow:\n", 3, "images.allow", "has no value, which is ambiguous: write [] to allow none"},
		{"registries without value", "apiVersion: v1\nimages:\n  registries:\n", 3, "images.registries", "has no value"},
		{"deny without value", "apiVersion: v1\nimages:\n  deny: ~\n", 3, "images.deny", "has no value"},
		{"namespaces without value", "apiVersion: v1\nnamespaces:\n", 2, "namespaces", "has no value"},
		{"serviceAccounts without value", "apiVersion: v1\nserviceAccounts: null\n", 2, "serviceAccounts", "has no value"},
		{"signature rule with keys: []", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      keys: []\n", 4, "images.signatures[0].keys", "at least one PEM public key"},
		{"identities without trustedRoot", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      identities: [{issuer: https://i, subject: s@x}]\n", 4, "images.signatures[0].trustedRoot", "required with identities"},
		{"identity with issuer and issuerRegExp", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      identities: [{issuer: https://i, issuerRegExp: x, subject: s}]\n      trustedRoot: {configMap: {name: r}}\n", 5, "images.signatures[0].identities[0].issuer", "exactly one of issuer or issuerRegExp"},
		{"identity without subject", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      identities: [{issuer: https://i}]\n      trustedRoot: {configMap: {name: r}}\n", 5, "images.signatures[0].identities[0].subject", "exactly one of subject or subjectRegExp"},
		{"identity regexp invalid", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      identities: [{issuer: https://i, subjectRegExp: \"a(\"}]\n      trustedRoot: {configMap: {name: r}}\n", 5, "images.signatures[0].identities[0].subjectRegExp", "not a regular expression"},
		{"identities: []", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      identities: []\n      trustedRoot: {configMap: {name: r}}\n", 4, "images.signatures[0].identities", "at least one identity"},
		{"trustedRoot with two sources", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      keys: [nope]\n      trustedRoot: {file: a, configMap: {name: r}}\n", 6, "images.signatures[0].trustedRoot", "exactly one of file, configMap or tuf"},
		{"trustedRoot file missing", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      identities: [{issuer: https://i, subject: s}]\n      trustedRoot: {file: testdata/nonexistent.json}\n", 6, "images.signatures[0].trustedRoot.file", "nonexistent.json"},
		{"trustedRoot file not a trusted root", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      identities: [{issuer: https://i, subject: s}]\n      trustedRoot: {file: testdata/example.yaml}\n", 6, "images.signatures[0].trustedRoot.file", "is not a sigstore trusted root"},
		{"trustedRoot configMap without name", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      identities: [{issuer: https://i, subject: s}]\n      trustedRoot: {configMap: {key: k}}\n", 6, "images.signatures[0].trustedRoot.configMap.name", "required"},
		{"trustedRoot tuf without root", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      identities: [{issuer: https://i, subject: s}]\n      trustedRoot: {tuf: {mirror: https://tuf.example}}\n", 6, "images.signatures[0].trustedRoot.tuf.root", "initial root.json"},
		{"transparencyLog misspelt", "apiVersion: v1\nimages:\n  signatures:\n    - images: [ghcr.io/**]\n      keys: [nope]\n      transparencyLog: always\n", 6, "images.signatures[0].transparencyLog", "required or optional"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("policy.yaml", []byte(tt.yaml), WithSecrets(&secretStore{}))
			var list jobconfig.ErrorList
			require.ErrorAs(t, err, &list)
			var found []string
			for _, e := range list {
				found = append(found, e.Error())
				if e.Line == tt.line && e.Path == tt.path && strings.Contains(e.Message, tt.msg) {
					assert.Equal(t, "policy.yaml", e.File)
					return
				}
			}
			t.Fatalf("want an error at line %d, %s, containing %q; got:\n%s", tt.line, tt.path, tt.msg, strings.Join(found, "\n"))
		})
	}
}

// Without a Secret reader nothing can say a Secret opted in: an action
// that reads one is undecided (jobctl reports it as not checked).
func TestLabelRuleWithoutSecretReaderIsUndecided(t *testing.T) {
	p, err := Parse("policy.yaml", []byte("apiVersion: v1\nsecrets:\n  requireLabel: a=b\n"))
	require.NoError(t, err)
	_, err = admit(t, p, configYAML(withImageTask("alpine", "env:", "  - name: s", "    valueFrom: secret")), testEvent())
	require.Error(t, err)
	assert.True(t, IsUnavailable(err), "%v", err)
	assert.ErrorContains(t, err, "the opt-in label a=b cannot be checked")
}

func TestParseRefusesOversizedPolicy(t *testing.T) {
	_, err := Parse("policy.yaml", []byte("apiVersion: v1\n#"+strings.Repeat("x", MaxBytes)))
	require.ErrorContains(t, err, "at most")
}

func TestPluginsOnlyTurnsOffPluginEnvUnlessAllowed(t *testing.T) {
	p := parsePolicy(t, `apiVersion: v1
pluginsOnly: true
plugins:
  closed: {image: "a@sha256:`+hex64+`"}
  open: {image: "a@sha256:`+hex64+`", allowEnv: true}
`)
	assert.False(t, p.plugins["closed"].AllowEnv)
	assert.True(t, p.plugins["open"].AllowEnv)
}
