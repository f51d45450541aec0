package jobs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Setting is one operator setting, under the two names it goes by: Key in
// jobctl's --settings file, Env in the function's environment. Both read
// the same value format through the same parser, so a deployment's
// ConfigMap can be copied into a settings file and give the same Jobs.
type Setting struct {
	Key string
	Env string
	// Default is the value as written in the ConfigMap; a test checks that
	// parsing it gives DefaultSettings. One starting with "$" is resolved
	// by the function (POD_NAMESPACE, KEPTN_API_URL).
	Default string
	Help    string
	// Structured settings take a mapping (in the environment, written as a
	// YAML flow mapping); the others a single value.
	Structured bool
	set        func(r *SettingsReader, v string) error
}

// SettingsTable is every setting of the Jobs. function.Env and jobctl's
// --settings keys come from it; so does the configuration table of
// docs/deploy.md and docs/jobctl.md (checked by tests).
var SettingsTable = []Setting{
	{Key: "namespace", Env: "JOB_NAMESPACE", Default: "keptn-jobs", Help: "namespace of Jobs whose action names none (the function: $POD_NAMESPACE before the default)",
		set: func(r *SettingsReader, v string) error { r.s.Namespace = v; return nil }},
	{Key: "serviceAccount", Env: "JOB_SERVICE_ACCOUNT", Default: "keptn-job", Help: "service account of task pods (token not mounted unless the action names one)",
		set: func(r *SettingsReader, v string) error { r.s.ServiceAccount = v; return nil }},
	{Key: "managedBy", Env: "JOB_MANAGED_BY", Default: "keptn-job-executor", Help: "value of the app.kubernetes.io/managed-by label our Jobs carry",
		set: func(r *SettingsReader, v string) error { r.s.ManagedBy = v; return nil }},
	{Key: "fetcherImage", Env: "FETCHER_IMAGE", Default: "ghcr.io/keptn-sandbox/job-executor-knative/initcontainer:latest", Help: "image of the init container that fetches files",
		set: func(r *SettingsReader, v string) error { r.s.FetcherImage = v; return nil }},
	{Key: "fetcherImagePullPolicy", Env: "FETCHER_IMAGE_PULL_POLICY", Default: "IfNotPresent", Help: "Always, Never or IfNotPresent", set: setPullPolicy},
	{Key: "keptnResourceURL", Env: "KEPTN_RESOURCE_URL", Default: "$KEPTN_API_URL/resource-service", Help: "resource-service base URL for job/config.yaml and the fetcher's files (wins over KEPTN_API_URL; http://resource-service.keptn:8080 in-cluster)",
		set: func(r *SettingsReader, v string) error { r.resourceURL = v; return nil }},
	{Key: "keptnAPIURL", Env: "KEPTN_API_URL", Help: "Keptn API base URL, e.g. http://api-gateway-nginx.keptn/api; .started/.finished are POSTed to <url>/v1/event, files come from <url>/resource-service",
		set: func(r *SettingsReader, v string) error { r.apiURL = v; return nil }},
	{Key: "keptnAPITokenSecret", Env: "KEPTN_API_TOKEN_SECRET", Default: "keptn-api-token/token", Help: "<secret name>/<key> in the job namespace holding the token for the fetcher (never the token itself)",
		set: func(r *SettingsReader, v string) error {
			name, key, err := nameKey(v)
			r.s.TokenSecret = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
			return err
		}},
	{Key: "keptnInsecureSkipVerify", Env: "KEPTN_INSECURE_SKIP_VERIFY", Default: "false", Help: "true turns off TLS verification towards Keptn, the function's and the fetcher's (explicit opt-out; never the default)",
		set: func(r *SettingsReader, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			r.s.InsecureSkipTLSVerify = b
			return nil
		}},
	{Key: "caConfigMap", Env: "KEPTN_CA_CONFIGMAP", Help: "<configmap name>/<key> in the job namespace of a PEM CA bundle the fetcher trusts for Keptn's TLS (mount the same bundle at KEPTN_CA_FILE for the function)",
		set: func(r *SettingsReader, v string) error {
			name, key, err := nameKey(v)
			r.s.CAConfigMap = &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
			return err
		}},
	{Key: "fetchTimeout", Env: "FETCH_TIMEOUT", Default: "0", Help: "time limit of the fetcher, e.g. 2m (0 = its default)",
		set: func(r *SettingsReader, v string) error {
			d, err := duration(v, true)
			r.s.FetchTimeoutSeconds = int64(d.Seconds())
			return err
		}},
	{Key: "taskDeadline", Env: "TASK_DEADLINE", Default: "5m", Help: "default maxPollDuration of a task",
		set: func(r *SettingsReader, v string) error {
			d, err := duration(v, false)
			r.s.TaskDeadlineSeconds = int64(d.Seconds())
			return err
		}},
	{Key: "workspaceSize", Env: "WORKSPACE_SIZE", Default: "20Mi", Help: "default size limit of the /keptn workspace; raises maxWorkspaceSize when above it, unless that is set too",
		set: func(r *SettingsReader, v string) error { return quantity(v, &r.s.WorkspaceSize) }},
	{Key: "maxWorkspaceSize", Env: "MAX_WORKSPACE_SIZE", Default: "1Gi", Help: "largest workspaceSize a config may ask for",
		set: func(r *SettingsReader, v string) error {
			r.maxWorkspaceSet = true
			return quantity(v, &r.s.MaxWorkspaceSize)
		}},
	{Key: "taskResources", Env: "TASK_RESOURCES", Default: "{requests: {cpu: 50m, memory: 128Mi}, limits: {cpu: 1, memory: 512Mi}}", Help: "resources of tasks that set none (replaces the defaults)", Structured: true,
		set: func(r *SettingsReader, v string) error { return resources(v, &r.s.TaskResources) }},
	{Key: "fetcherResources", Env: "FETCHER_RESOURCES", Default: "{requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 200m, memory: 64Mi}}", Help: "resources of the fetcher (replaces the defaults)", Structured: true,
		set: func(r *SettingsReader, v string) error { return resources(v, &r.s.FetcherResources) }},
	{Key: "ttlSecondsAfterFinished", Env: "JOB_TTL_SECONDS_AFTER_FINISHED", Default: "21600", Help: "seconds a finished Job is kept when the action sets none",
		set: func(r *SettingsReader, v string) error {
			i, err := integer(v, 0, 1<<31-1)
			r.s.TTLSecondsAfterFinished = int32(i)
			return err
		}},
	{Key: "runAsUser", Env: "RUN_AS_USER", Default: "1000", Help: "uid of task pods (non-root)", set: idSetter(func(s *Settings) *int64 { return &s.RunAsUser }, 1)},
	{Key: "runAsGroup", Env: "RUN_AS_GROUP", Default: "1000", Help: "gid of task pods (non-root)", set: idSetter(func(s *Settings) *int64 { return &s.RunAsGroup }, 1)},
	{Key: "fsGroup", Env: "FS_GROUP", Default: "1000", Help: "fsGroup of task pods", set: idSetter(func(s *Settings) *int64 { return &s.FSGroup }, 0)},
	{Key: "genericConfigMap", Env: "GENERIC_CONFIGMAP", Help: "ConfigMap in the job namespace whose keys a generic event's tasks get as files under /keptn (the fetcher mounts it; docs/generic.md)",
		set: func(r *SettingsReader, v string) error { r.s.GenericConfigMap = v; return nil }},
	{Key: "genericResultType", Env: "GENERIC_RESULT_TYPE", Default: "dev.jobexecutor.job.finished", Help: "type of the result event of a generic Job; {type} stands for the triggering event's type, e.g. {type}.finished",
		set: func(r *SettingsReader, v string) error { r.s.GenericResultType = v; return nil }},
}

// SettingsReader collects settings over DefaultSettings, from either name.
type SettingsReader struct {
	s                   Settings
	resourceURL, apiURL string
	maxWorkspaceSet     bool
}

// NewSettingsReader starts from DefaultSettings.
func NewSettingsReader() *SettingsReader { return &SettingsReader{s: DefaultSettings()} }

// LookupSetting finds a setting by its Key or its Env.
func LookupSetting(name string) (Setting, bool) {
	for _, s := range SettingsTable {
		if s.Key == name || s.Env == name {
			return s, true
		}
	}
	return Setting{}, false
}

// SettingKeys lists the Keys, for errors naming the known ones.
func SettingKeys() string {
	keys := make([]string, len(SettingsTable))
	for i, s := range SettingsTable {
		keys[i] = s.Key
	}
	return strings.Join(keys, ", ")
}

// Set parses value into the setting named by its Key or Env. The error
// names neither: callers know where the value came from (file:line or
// variable).
func (r *SettingsReader) Set(name, value string) error {
	st, ok := LookupSetting(name)
	if !ok {
		return fmt.Errorf("unknown setting (known: %s)", SettingKeys())
	}
	return st.set(r, value)
}

// Settings combines what was set and validates the whole: settings that
// are each fine may together be unsafe.
func (r *SettingsReader) Settings() (Settings, error) {
	s := r.s
	switch {
	case r.resourceURL != "":
		s.KeptnAPIURL = r.resourceURL
	case r.apiURL != "":
		s.KeptnAPIURL = strings.TrimSuffix(r.apiURL, "/") + "/resource-service"
	}
	// A larger default workspace raises the ceiling unless the ceiling was
	// set too: an operator who only says "20Gi" means it to be usable.
	if !r.maxWorkspaceSet && s.MaxWorkspaceSize.Cmp(s.WorkspaceSize) < 0 {
		s.MaxWorkspaceSize = s.WorkspaceSize
	}
	return s, s.Validate()
}

// SettingsFromEnv reads every setting from env by its Env name; empty
// values mean the default. Errors name the variable.
func SettingsFromEnv(env map[string]string) (Settings, error) {
	r := NewSettingsReader()
	var errs []error
	for _, st := range SettingsTable {
		if v := strings.TrimSpace(env[st.Env]); v != "" {
			if err := st.set(r, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", st.Env, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return r.s, err
	}
	return r.Settings()
}

func setPullPolicy(r *SettingsReader, v string) error {
	switch p := corev1.PullPolicy(v); p {
	case corev1.PullAlways, corev1.PullNever, corev1.PullIfNotPresent:
		r.s.FetcherImagePullPolicy = p
		return nil
	}
	return fmt.Errorf("%q is not Always, Never or IfNotPresent", v)
}

func idSetter(field func(*Settings) *int64, lo int64) func(*SettingsReader, string) error {
	return func(r *SettingsReader, v string) error {
		i, err := integer(v, lo, 1<<31-1)
		*field(&r.s) = i
		return err
	}
}

func nameKey(v string) (name, key string, err error) {
	name, key, ok := strings.Cut(v, "/")
	if !ok || name == "" || key == "" || strings.Contains(key, "/") {
		return "", "", fmt.Errorf("%q: want <name>/<key>", v)
	}
	return name, key, nil
}

func duration(v string, zeroOK bool) (time.Duration, error) {
	if zeroOK && v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration such as 90s or 5m", v)
	case d < 0, d < time.Second && (!zeroOK || d != 0):
		return 0, fmt.Errorf("%q: want at least 1s", v)
	}
	return d, nil
}

func quantity(v string, dst *resource.Quantity) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("%q is not a quantity such as 500m or 128Mi", v)
	}
	*dst = q
	return nil
}

func integer(v string, lo, hi int64) (int64, error) {
	i, err := strconv.ParseInt(v, 10, 64)
	if err != nil || i < lo || i > hi {
		return 0, fmt.Errorf("%q: want a whole number from %d to %d", v, lo, hi)
	}
	return i, nil
}

// resources reads {requests: {name: quantity}, limits: {...}}, in YAML
// (flow or block); a request above its limit is refused as in job configs.
func resources(v string, dst *corev1.ResourceRequirements) error {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(v), &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return errors.New("must be a mapping with requests and/or limits, such as {limits: {cpu: 1}}")
	}
	n := doc.Content[0]
	var out corev1.ResourceRequirements
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		list, err := resourceList(k.Value, v)
		if err != nil {
			return err
		}
		switch k.Value {
		case "requests":
			out.Requests = list
		case "limits":
			out.Limits = list
		default:
			return fmt.Errorf("%s: unknown key (want requests or limits)", k.Value)
		}
	}
	for name, req := range out.Requests {
		if lim, ok := out.Limits[name]; ok && req.Cmp(lim) > 0 {
			return fmt.Errorf("requests.%s %s is above limits.%s %s", name, req.String(), name, lim.String())
		}
	}
	*dst = out
	return nil
}

func resourceList(key string, v *yaml.Node) (corev1.ResourceList, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: must be a mapping such as {cpu: 100m, memory: 128Mi}", key)
	}
	list := corev1.ResourceList{}
	for j := 0; j+1 < len(v.Content); j += 2 {
		var q resource.Quantity
		if v.Content[j+1].Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s.%s: must be a single value", key, v.Content[j].Value)
		}
		if err := quantity(v.Content[j+1].Value, &q); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", key, v.Content[j].Value, err)
		}
		list[corev1.ResourceName(v.Content[j].Value)] = q
	}
	return list, nil
}
