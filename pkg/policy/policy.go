// Package policy is the operator's policy over what job configs may run:
// which images (registries, allow and deny patterns, digests, signatures),
// plugins, namespaces, service accounts, Secrets and resources, and the
// bounds on configs and events. It is read from a YAML file the operator
// mounts (docs/security.md); a job config can never loosen it.
//
// Admit checks one matching action against the policy before the Job is
// built and returns the config to build from (plugin tasks turned into
// containers, verified images pinned by digest); CheckJob is the last word
// on the built Job (Kubernetes' own Pod Security "restricted" evaluator,
// then the hard rules of ours it has no check for).
package policy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/sigstore/sigstore/pkg/signature"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
)

// Policy is a parsed policy file plus what it needs at event time.
// The zero value is not usable; use Default or Parse.
type Policy struct {
	file string

	images      imageRules
	plugins     map[string]*Plugin
	pluginsOnly bool
	namespaces  []*namedGlob
	accounts    []*namedGlob
	secretLabel *labelRule
	// allowNetBindService lets a task add NET_BIND_SERVICE, the one
	// capability Pod Security "restricted" permits; every other added
	// capability is always refused.
	allowNetBindService bool
	// allowControlPlane lets an action select or tolerate control-plane
	// nodes (node-role.kubernetes.io/control-plane or master).
	allowControlPlane bool
	resources         resourceRules
	limits            Limits

	// Set by options: the I/O done at event time.
	secrets    SecretReader
	configMaps ConfigMapReader
	registry   *registry
}

// rule locates a policy entry, so a refusal names the rule that refused.
type rule struct {
	Path string
	Line int
}

// namedGlob is a pattern with the rule it came from.
type namedGlob struct {
	rule
	g *glob
}

type imageRules struct {
	registries    []*namedGlob
	registriesAt  rule
	allow         []*namedImagePattern
	allowAt       rule
	deny          []*namedImagePattern
	requireDigest bool
	digestAt      rule
	signatures    []*SignatureRule
}

type namedImagePattern struct {
	rule
	p *imagePattern
}

// SignatureRule requires images matching one of its patterns to carry a
// cosign signature by one of its keys.
type SignatureRule struct {
	rule
	// Name labels the rule in messages (default: its path).
	Name     string
	images   []*imagePattern
	verifier []signature.Verifier
	// identities are the keyless signers (certificate issuer and subject)
	// any one of which may sign; they need trust.
	identities []identity
	// trust is the trusted root (certificate authorities, transparency
	// logs) from trustedRoot; nil when the rule names none.
	trust *trustSource
	// requireTlog refuses a bundle without a transparency-log entry.
	requireTlog bool
	// matchIdentity requires the signed payload's docker-reference to name
	// the image's repository, so a signature made for one repository does
	// not vouch for the same bytes pushed under another name.
	matchIdentity bool
}

// Plugin is one catalog entry: a pinned image and entrypoint that a task
// runs by name, parameterised only through declared `with` keys.
type Plugin struct {
	rule
	Name            string
	Image           string
	ImagePullPolicy corev1.PullPolicy
	Command         []string
	Args            []string
	WorkingDir      string
	// Env is fixed environment the plugin always gets.
	Env []corev1.EnvVar
	// With declares the parameters, by key.
	With map[string]*Param
	// AllowEnv lets plugin tasks add env entries of their own. Default: true
	// unless pluginsOnly (where env such as LD_PRELOAD could turn a plugin
	// into any command).
	AllowEnv bool
}

// ParamType is the type of a plugin parameter.
type ParamType string

// The parameter types a catalog may declare.
const (
	ParamString ParamType = "string"
	ParamInt    ParamType = "int"
	ParamBool   ParamType = "bool"
)

// Param declares one `with` key of a plugin.
type Param struct {
	Type     ParamType
	Required bool
	// Default is used when the task does not give the key ("" = none).
	Default    string
	HasDefault bool
	// Env is the variable the value is passed in (default: the key).
	Env string
}

// DefaultSecretLabel is the opt-in label every Secret a task reads must
// carry when the policy names no other (secrets.requireLabel): without it
// any config author could read any Secret of the job namespace, the
// fetcher's token Secret included.
const DefaultSecretLabel = "job-executor.keptn.sh/job-env=true" //nolint:gosec // G101: a label selector, not a credential

func defaultSecretLabel() *labelRule {
	k, v, _ := strings.Cut(DefaultSecretLabel, "=")
	return &labelRule{rule: rule{Path: "secrets.requireLabel (built in)"}, Key: k, Value: v}
}

// labelRule is a label key and value a Secret must carry.
type labelRule struct {
	rule
	Key, Value string
}

type resourceRules struct {
	defaults *corev1.ResourceRequirements
	max      corev1.ResourceList
	maxAt    rule
	// maxWorkspace, when set, is the ceiling of an action's workspaceSize.
	maxWorkspace *resource.Quantity
}

// Limits are the policy's bounds on configs and events. Zero means the
// built-in default (jobconfig.DefaultLimits) or, for EventBytes, no bound
// beyond the HTTP server's.
type Limits struct {
	ConfigBytes     int
	Actions         int
	EventsPerAction int
	TasksPerAction  int
	EnvPerTask      int
	FilesPerTask    int
	EventBytes      int
	eventBytesAt    rule
}

// ConfigLimits are the limits to parse job configs with.
func (p *Policy) ConfigLimits() jobconfig.Limits {
	return jobconfig.Limits{
		MaxBytes:           p.limits.ConfigBytes,
		MaxActions:         p.limits.Actions,
		MaxEventsPerAction: p.limits.EventsPerAction,
		MaxTasksPerAction:  p.limits.TasksPerAction,
		MaxEnvPerTask:      p.limits.EnvPerTask,
		MaxFilesPerTask:    p.limits.FilesPerTask,
	}
}

// Option supplies what the policy needs at event time.
type Option func(*Policy)

// WithSecrets gives the policy read access to Secret labels. Without it an
// action that reads a Secret cannot be decided (ErrUnavailable).
func WithSecrets(r SecretReader) Option {
	return func(p *Policy) { p.secrets = r }
}

// WithConfigMaps lets the policy read trusted roots from ConfigMaps.
// Without it a rule whose trustedRoot is a ConfigMap cannot check a
// bundle (ErrNotChecked).
func WithConfigMaps(r ConfigMapReader) Option {
	return func(p *Policy) { p.configMaps = r }
}

// WithRegistryTransport sets the HTTP transport to registries (default
// http.DefaultTransport).
func WithRegistryTransport(rt http.RoundTripper) Option {
	return func(p *Policy) { p.registry.transport = rt }
}

// WithKeychain sets the registry credentials (default: the Docker config
// at $DOCKER_CONFIG/config.json, as docker and cosign read it).
func WithKeychain(k authn.Keychain) Option {
	return func(p *Policy) { p.registry.keychain = k }
}

// WithCacheSize bounds the number of verified digests remembered.
func WithCacheSize(n int) Option {
	return func(p *Policy) {
		if n > 0 {
			p.registry.cache.max = n
		}
	}
}

// Default is the policy in force when the operator configures none: every
// image may run, there is no plugin catalog, and only the hard rules apply.
func Default(opts ...Option) *Policy {
	p := &Policy{file: "(default policy)", plugins: map[string]*Plugin{}, registry: newRegistry(), secretLabel: defaultSecretLabel()}
	for _, o := range opts {
		o(p)
	}
	return p
}

func (r rule) String() string {
	if r.Line > 0 {
		return r.Path + " (line " + strconv.Itoa(r.Line) + ")"
	}
	return r.Path
}
