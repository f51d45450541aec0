package function

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

var update = flag.Bool("update", false, "rewrite the configuration table of docs/deploy.md from Env")

const (
	deployDoc  = "../docs/deploy.md"
	tableBegin = "<!-- configuration table: generated from function.Env (go test ./function -run TestDeployDocTable -update) -->\n"
	tableEnd   = "<!-- end of configuration table -->\n"
)

// TestDeployDocTable keeps the configuration table of docs/deploy.md equal
// to Env, the table --help prints and Start reads.
func TestDeployDocTable(t *testing.T) {
	raw, err := os.ReadFile(deployDoc)
	require.NoError(t, err)
	doc := string(raw)
	before, rest, ok := strings.Cut(doc, tableBegin)
	require.True(t, ok, "docs/deploy.md lacks %q", tableBegin)
	_, after, ok := strings.Cut(rest, tableEnd)
	require.True(t, ok, "docs/deploy.md lacks %q", tableEnd)
	var want bytes.Buffer
	MarkdownEnv(&want)
	if *update {
		require.NoError(t, os.WriteFile(deployDoc, []byte(before+tableBegin+want.String()+tableEnd+after), 0o644))
		return
	}
	assert.Equal(t, want.String(), rest[:len(rest)-len(after)-len(tableEnd)], "run: go test ./function -run TestDeployDocTable -update")
}

// TestConfigMapKnown checks the kustomize ConfigMap against Env: every key
// is a variable the function reads, and the Job settings in it parse as
// the function parses them.
func TestConfigMapKnown(t *testing.T) {
	raw, err := os.ReadFile("../config/knative/platform/configmap.yaml")
	require.NoError(t, err)
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &cm))
	require.NotEmpty(t, cm.Data)
	known := map[string]bool{}
	for _, v := range Env {
		known[v.Name] = true
	}
	for k := range cm.Data {
		assert.True(t, known[k], "configmap.yaml sets %s, which the function does not read", k)
	}
	_, err = readSettings(cm.Data)
	require.NoError(t, err)
	for _, s := range jobs.SettingsTable {
		if v, ok := cm.Data[s.Env]; ok && !strings.HasPrefix(s.Default, "$") && s.Default != "" {
			assert.Equal(t, s.Default, v, "configmap.yaml's %s differs from the documented default", s.Env)
		}
	}
}

// TestEnvNamesOnce: a variable is either the function's own or a Job
// setting, never both.
func TestEnvNamesOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Env {
		assert.False(t, seen[v.Name], "%s listed twice", v.Name)
		seen[v.Name] = true
	}
}

func TestJobSettingsFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*jobs.Settings)
	}{
		{"pod namespace is the default namespace", map[string]string{"POD_NAMESPACE": "here", "KEPTN_API_URL": "http://k/api"}, func(s *jobs.Settings) {
			s.Namespace, s.KeptnAPIURL = "here", "http://k/api/resource-service"
		}},
		{"JOB_NAMESPACE wins", map[string]string{"POD_NAMESPACE": "here", "JOB_NAMESPACE": "there", "KEPTN_RESOURCE_URL": "http://rs"}, func(s *jobs.Settings) {
			s.Namespace, s.KeptnAPIURL = "there", "http://rs"
		}},
		{"local config dir: the fetcher's URL says so", map[string]string{"KEPTN_CONFIG_DIR": "/cfg"}, func(s *jobs.Settings) {
			s.KeptnAPIURL = "http://keptn-resource-service.invalid"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JobSettings(tt.env)
			require.NoError(t, err)
			want := jobs.DefaultSettings()
			tt.want(&want)
			assert.Equal(t, want, got)
		})
	}
}

func TestReadSettingsErrorsNameTheVariable(t *testing.T) {
	for _, name := range []string{"CLAIM_TTL", "RETRY_WINDOW", "KEPTN_MAX_EVENT_SIZE_KB", "RUN_AS_USER", "FETCH_TIMEOUT", "KEPTN_CA_CONFIGMAP"} {
		t.Run(name, func(t *testing.T) {
			_, err := readSettings(map[string]string{"KEPTN_API_URL": "http://k", name: "-x"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), name)
		})
	}
}

// TestHelpListsEverySetting: `function --help` prints PrintEnv, so every
// Job setting jobctl takes is one the function documents and reads.
func TestHelpListsEverySetting(t *testing.T) {
	var help bytes.Buffer
	PrintEnv(&help)
	for _, s := range jobs.SettingsTable {
		assert.Regexp(t, "(?m)^"+s.Env+" ", help.String(), "--help lists %s (jobctl: %s)", s.Env, s.Key)
	}
}
