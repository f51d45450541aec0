package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/keptn-sandbox/job-executor-knative/pkg/config"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// settingsFile collects a --settings file. The URL keys are combined after
// reading, as the function combines KEPTN_RESOURCE_URL and KEPTN_API_URL.
type settingsFile struct {
	s               jobs.Settings
	resourceURL     string
	apiURL          string
	maxWorkspaceSet bool
}

// setting is one key of a --settings file. Keys are named after the
// function's environment variable (Env) where there is one, and take values
// in the same format, so one deployment's values can be copied over.
type setting struct {
	Key  string
	Env  string
	Help string
	set  func(f *settingsFile, n *yaml.Node) error
}

var settingsTable = []setting{
	{"namespace", "JOB_NAMESPACE", "namespace of Jobs whose action names none", func(f *settingsFile, n *yaml.Node) error {
		return str(n, &f.s.Namespace)
	}},
	{"serviceAccount", "JOB_SERVICE_ACCOUNT", "service account of task pods", func(f *settingsFile, n *yaml.Node) error {
		return str(n, &f.s.ServiceAccount)
	}},
	{"managedBy", "JOB_MANAGED_BY", "value of the app.kubernetes.io/managed-by label", func(f *settingsFile, n *yaml.Node) error {
		return str(n, &f.s.ManagedBy)
	}},
	{"fetcherImage", "FETCHER_IMAGE", "image of the init container that fetches files", func(f *settingsFile, n *yaml.Node) error {
		return str(n, &f.s.FetcherImage)
	}},
	{"fetcherImagePullPolicy", "", "Always, Never or IfNotPresent", func(f *settingsFile, n *yaml.Node) error {
		var v string
		if err := str(n, &v); err != nil {
			return err
		}
		switch p := corev1.PullPolicy(v); p {
		case corev1.PullAlways, corev1.PullNever, corev1.PullIfNotPresent:
			f.s.FetcherImagePullPolicy = p
			return nil
		}
		return fmt.Errorf("%q is not Always, Never or IfNotPresent", v)
	}},
	{"keptnResourceURL", "KEPTN_RESOURCE_URL", "resource-service URL the fetcher calls (wins over keptnAPIURL)", func(f *settingsFile, n *yaml.Node) error {
		return str(n, &f.resourceURL)
	}},
	{"keptnAPIURL", "KEPTN_API_URL", "Keptn API URL; the fetcher calls <url>/resource-service", func(f *settingsFile, n *yaml.Node) error {
		return str(n, &f.apiURL)
	}},
	{"keptnAPITokenSecret", "KEPTN_API_TOKEN_SECRET", "<secret name>/<key> holding the token for the fetcher", func(f *settingsFile, n *yaml.Node) error {
		name, key, err := nameKey(n)
		f.s.TokenSecret = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
		return err
	}},
	{"keptnInsecureSkipVerify", "KEPTN_INSECURE_SKIP_VERIFY", "true turns off the fetcher's TLS verification", func(f *settingsFile, n *yaml.Node) error {
		var v string
		if err := str(n, &v); err != nil {
			return err
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		f.s.InsecureSkipTLSVerify = b
		return nil
	}},
	{"caConfigMap", "", "<configmap name>/<key> of a CA bundle mounted into the fetcher", func(f *settingsFile, n *yaml.Node) error {
		name, key, err := nameKey(n)
		f.s.CAConfigMap = &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
		return err
	}},
	{"fetchTimeout", "", "time limit of the fetcher, e.g. 2m (0 = its default)", func(f *settingsFile, n *yaml.Node) error {
		d, err := duration(n, true)
		f.s.FetchTimeoutSeconds = int64(d.Seconds())
		return err
	}},
	{"taskDeadline", "TASK_DEADLINE", "default maxPollDuration of a task, e.g. 5m", func(f *settingsFile, n *yaml.Node) error {
		d, err := duration(n, false)
		f.s.TaskDeadlineSeconds = int64(d.Seconds())
		return err
	}},
	{"workspaceSize", "WORKSPACE_SIZE", "default size limit of the /keptn workspace, e.g. 20Mi", func(f *settingsFile, n *yaml.Node) error {
		return quantity(n, &f.s.WorkspaceSize)
	}},
	{"maxWorkspaceSize", "", "largest workspaceSize a config may ask for (default 1Gi, raised to workspaceSize)", func(f *settingsFile, n *yaml.Node) error {
		f.maxWorkspaceSet = true
		return quantity(n, &f.s.MaxWorkspaceSize)
	}},
	{"taskResources", "", "{requests, limits} of tasks that set none (replaces the defaults)", func(f *settingsFile, n *yaml.Node) error {
		return resources(n, &f.s.TaskResources)
	}},
	{"fetcherResources", "", "{requests, limits} of the fetcher (replaces the defaults)", func(f *settingsFile, n *yaml.Node) error {
		return resources(n, &f.s.FetcherResources)
	}},
	{"ttlSecondsAfterFinished", "", "seconds a finished Job is kept when the action sets none", func(f *settingsFile, n *yaml.Node) error {
		v, err := integer(n, 0, 1<<31-1)
		f.s.TTLSecondsAfterFinished = int32(v)
		return err
	}},
	{"runAsUser", "", "uid of task pods (non-root)", func(f *settingsFile, n *yaml.Node) error {
		v, err := integer(n, 1, 1<<31-1)
		f.s.RunAsUser = v
		return err
	}},
	{"runAsGroup", "", "gid of task pods", func(f *settingsFile, n *yaml.Node) error {
		v, err := integer(n, 0, 1<<31-1)
		f.s.RunAsGroup = v
		return err
	}},
	{"fsGroup", "", "fsGroup of task pods", func(f *settingsFile, n *yaml.Node) error {
		v, err := integer(n, 0, 1<<31-1)
		f.s.FSGroup = v
		return err
	}},
}

// printSettingsTable writes the keys for --help and docs/jobctl.md.
func printSettingsTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  KEY\tFUNCTION ENV\tMEANING")
	for _, s := range settingsTable {
		env := s.Env
		if env == "" {
			env = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Key, env, s.Help)
	}
	tw.Flush()
}

// parseSettings reads a --settings file over jobs.DefaultSettings. Problems
// with a key are a config.ErrorList naming file, line and key; settings
// that are each fine but together unsafe fail jobs.Settings.Validate.
func parseSettings(file string, data []byte) (jobs.Settings, error) {
	f := settingsFile{s: jobs.DefaultSettings()}
	var errs config.ErrorList
	fail := func(n *yaml.Node, key, msg string) {
		errs = append(errs, &config.FieldError{File: file, Line: n.Line, Column: n.Column, Path: key, Message: msg})
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, extra yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return f.s, config.ErrorList{yamlError(file, err)}
	}
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return f.s, config.ErrorList{yamlError(file, err)}
	default:
		fail(&extra, "", "only one YAML document is allowed (found a second one)")
		return f.s, errs
	}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		switch {
		case yamlnode.IsNull(root):
		case root.Kind != yaml.MappingNode:
			fail(root, "", "settings must be a mapping of key: value")
		default:
			seen := map[string]bool{}
			for i := 0; i+1 < len(root.Content); i += 2 {
				k, v := root.Content[i], root.Content[i+1]
				st, ok := lookupSetting(k.Value)
				switch {
				case !ok:
					fail(k, k.Value, "unknown setting (known: "+settingKeys()+")")
				case seen[k.Value]:
					fail(k, k.Value, "set twice")
				default:
					if err := st.set(&f, v); err != nil {
						fail(v, k.Value, err.Error())
					}
				}
				seen[k.Value] = true
			}
		}
	}
	if len(errs) > 0 {
		return f.s, errs
	}
	switch {
	case f.resourceURL != "":
		f.s.KeptnAPIURL = f.resourceURL
	case f.apiURL != "":
		f.s.KeptnAPIURL = strings.TrimSuffix(f.apiURL, "/") + "/resource-service"
	}
	// As the function does with WORKSPACE_SIZE: a larger default raises the
	// ceiling unless the ceiling was set too.
	if !f.maxWorkspaceSet && f.s.MaxWorkspaceSize.Cmp(f.s.WorkspaceSize) < 0 {
		f.s.MaxWorkspaceSize = f.s.WorkspaceSize
	}
	if err := f.s.Validate(); err != nil {
		return f.s, fmt.Errorf("%s: %w", file, err)
	}
	return f.s, nil
}

// yamlError locates a syntax error at the line yaml.v3 names in its message.
func yamlError(file string, err error) *config.FieldError {
	line, msg := yamlnode.SyntaxError(err)
	return &config.FieldError{File: file, Line: line, Message: "invalid YAML: " + msg}
}

func lookupSetting(key string) (setting, bool) {
	for _, s := range settingsTable {
		if s.Key == key {
			return s, true
		}
	}
	return setting{}, false
}

func settingKeys() string {
	keys := make([]string, len(settingsTable))
	for i, s := range settingsTable {
		keys[i] = s.Key
	}
	return strings.Join(keys, ", ")
}

var errNotScalar = errors.New("must be a single value, not a list or mapping")

// str accepts any non-null scalar: `namespace: 2024` is the name "2024".
func str(n *yaml.Node, dst *string) error {
	n = yamlnode.Resolve(n)
	switch {
	case n.Kind != yaml.ScalarNode:
		return errNotScalar
	case yamlnode.IsNull(n):
		return errors.New("must not be empty")
	}
	*dst = n.Value
	return nil
}

func nameKey(n *yaml.Node) (name, key string, err error) {
	var v string
	if err := str(n, &v); err != nil {
		return "", "", err
	}
	name, key, ok := strings.Cut(v, "/")
	if !ok || name == "" || key == "" || strings.Contains(key, "/") {
		return "", "", fmt.Errorf("%q: want <name>/<key>", v)
	}
	return name, key, nil
}

func duration(n *yaml.Node, zeroOK bool) (time.Duration, error) {
	var v string
	if err := str(n, &v); err != nil {
		return 0, err
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

func quantity(n *yaml.Node, dst *resource.Quantity) error {
	var v string
	if err := str(n, &v); err != nil {
		return err
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("%q is not a quantity such as 500m or 128Mi", v)
	}
	*dst = q
	return nil
}

func integer(n *yaml.Node, lo, hi int64) (int64, error) {
	var v string
	if err := str(n, &v); err != nil {
		return 0, err
	}
	i, err := strconv.ParseInt(v, 10, 64)
	if err != nil || i < lo || i > hi {
		return 0, fmt.Errorf("%q: want a whole number from %d to %d", v, lo, hi)
	}
	return i, nil
}

// resources reads {requests: {name: quantity}, limits: {...}}; a request
// above its limit is refused as in job configs.
func resources(n *yaml.Node, dst *corev1.ResourceRequirements) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("must be a mapping with requests and/or limits")
	}
	var out corev1.ResourceRequirements
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		list := corev1.ResourceList{}
		if v.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: must be a mapping such as {cpu: 100m, memory: 128Mi}", k.Value)
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			var q resource.Quantity
			if err := quantity(v.Content[j+1], &q); err != nil {
				return fmt.Errorf("%s.%s: %w", k.Value, v.Content[j].Value, err)
			}
			list[corev1.ResourceName(v.Content[j].Value)] = q
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
