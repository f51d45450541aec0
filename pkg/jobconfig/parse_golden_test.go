package jobconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current parser")

// TestParseGolden parses the seed's configs as printed (indentation
// restored), the plugin examples and a config using every field, and
// compares the whole parsed structure, as JSON, with testdata/golden. Run
// `go test ./pkg/jobconfig -run TestParseGolden -update` after a deliberate
// change and review the diff.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			cfg, err := Parse("job/config.yaml", data)
			require.NoError(t, err)
			got, err := json.MarshalIndent(cfg, "", "  ")
			require.NoError(t, err)
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(got))
		})
	}
}

func parseFile(t *testing.T, path string) *Config {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg, err := Parse("job/config.yaml", data)
	require.NoError(t, err)
	return cfg
}

// The seed's first config is "simplified": the action carries event,
// files, image, a string cmd and args itself. It reads as one task named
// after the action.
func TestParseSeedSimplified(t *testing.T) {
	cfg := parseFile(t, "testdata/seed-simplified.yaml")
	require.Len(t, cfg.Actions, 1)
	a := cfg.Actions[0]
	require.Len(t, a.Events, 1)
	assert.Equal(t, "sh.keptn.event.test.triggered", a.Events[0].Name)
	assert.Equal(t, "actions[0].event", a.Events[0].Pos.Path)
	require.Len(t, a.Tasks, 1)
	task := a.Tasks[0]
	assert.Equal(t, "Run tests", task.Name)
	assert.Equal(t, a.Pos, task.Pos)
	assert.Equal(t, "docker.io/locustio/locust", task.Image)
	assert.Equal(t, []string{"locust"}, task.Cmd)
	assert.Equal(t, []string{"--config", "/keptn/locust/locust.conf", "-f", "/keptn/locust/basic.py", "--host", "$(HOST)"}, task.Args)
	assert.Equal(t, []string{"locust/basic.py", "locust/locust.conf"}, task.Files)
}

// The seed's second plugin example writes `with:` followed by an indented
// KEY=VALUE line: YAML reads that as one plain string, not a mapping.
func TestParseSeedPlugins(t *testing.T) {
	locust := parseFile(t, "testdata/seed-plugin-locust.yaml").Actions[0].Tasks[0]
	assert.Equal(t, "keptn-contrib/locust-test-job", locust.Plugin)
	assert.Equal(t, "keptn-contrib/locust-test-job", locust.Name, "a plugin task without a name is named after its plugin")
	assert.Equal(t, map[string]string{"LOCUST_TEST": "locust/basic.py"}, locust.With)
	assert.Empty(t, locust.Image)

	helm := parseFile(t, "testdata/seed-plugin-helm.yaml").Actions[0].Tasks[0]
	assert.Equal(t, "keptn-contrib/helm-deploy-job", helm.Plugin)
	assert.Equal(t, []string{"helm/"}, helm.Files)
	assert.Nil(t, helm.With)
}

func TestParseWithForms(t *testing.T) {
	tasks := parseFile(t, "testdata/with-forms.yaml").Actions[0].Tasks
	require.Len(t, tasks, 4)
	want := map[string]string{"A": "1", "B": "two words", "C": "x=y"}
	assert.Equal(t, map[string]string{"A": "1", "B": "two words"}, tasks[0].With, "mapping")
	assert.Equal(t, want, tasks[1].With, "list of KEY=VALUE")
	assert.Equal(t, want, tasks[2].With, "plain text, folded by YAML into one line")
	assert.Equal(t, map[string]string{"A": "1", "B": "two words B2=still B"}, tasks[3].With, "literal block: one entry per line")
}

// TestParseFullConfig checks what the lifting rules make of the pod-level
// fields written on both the action and its tasks.
func TestParseFullConfig(t *testing.T) {
	cfg := parseFile(t, "testdata/full.yaml")
	a := cfg.Actions[0]
	assert.Equal(t, "keptn-jobs", a.Namespace)
	assert.Equal(t, "deployer", a.ServiceAccount)
	assert.Equal(t, []string{"regcred", "other-cred"}, a.ImagePullSecrets)
	assert.Equal(t, "50Mi", a.WorkspaceSize)
	require.NotNil(t, a.TTLSecondsAfterFinished)
	assert.Equal(t, int32(900), *a.TTLSecondsAfterFinished, "the longest TTL of action and tasks")
	assert.Equal(t, map[string]string{"example.com/owner": "team-a", "example.com/task": "apply"}, a.Annotations, "union, later tasks win")
	require.Len(t, a.Tolerations, 2)
	assert.Equal(t, int64(30), *a.Tolerations[1].TolerationSeconds)
	require.NotNil(t, a.Affinity.NodeAffinity)
	assert.Equal(t, []string{"amd64", "arm64"}, a.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values)

	render, apply := a.Tasks[0], a.Tasks[1]
	assert.Equal(t, OnErrorFail, render.OnError, "a task's own onError wins")
	assert.Equal(t, OnErrorWarn, apply.OnError, "the action's onError is the default")
	assert.Equal(t, []string{"sh"}, render.Cmd)
	env := render.Env
	require.Len(t, env, 6)
	assert.Equal(t, "yaml", env[1].As)
	assert.Equal(t, EnvFromSecret, env[2].ValueFrom)
	assert.Equal(t, EnvFromSecretKey, env[3].ValueFrom)
	assert.Equal(t, "TOKEN", env[3].Name)
	assert.Equal(t, "api-credentials", env[3].SecretKeyRef.Name)
	assert.Equal(t, "token", env[3].SecretKeyRef.Key)
	assert.Equal(t, EnvFromString, env[4].ValueFrom, "valueFrom defaults to string")
	assert.Equal(t, "E2E-with.odd name", env[5].Name, "Kubernetes accepts any printable ASCII but '='")
	sc := render.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, int64(1000), *sc.RunAsUser)
	assert.False(t, *sc.ReadOnlyRootFilesystem)
	assert.Equal(t, "RuntimeDefault", string(sc.SeccompProfile.Type))
	assert.Equal(t, map[string]string{"RELEASE": "my-app", "NAMESPACE": "prod"}, apply.With)
	require.Len(t, cfg.Warnings, 1)
	assert.Equal(t, `job/config.yaml:109:29: actions[0].tasks[1].annotations["example.com/task"]: overrides the value "render" set earlier in this action (one Job carries the annotations of all its tasks)`, cfg.Warnings[0].Error())
}

func TestParseHashAndFile(t *testing.T) {
	data := []byte("apiVersion: v2\nactions: []\n")
	cfg, err := Parse("some/where.yaml", data)
	require.NoError(t, err)
	assert.Equal(t, "some/where.yaml", cfg.File)
	sum := sha256.Sum256(data)
	assert.Equal(t, hex.EncodeToString(sum[:]), cfg.Hash)
	other, err := Parse("some/where.yaml", []byte("apiVersion: v2\nactions: [] \n"))
	require.NoError(t, err)
	assert.NotEqual(t, cfg.Hash, other.Hash, "one byte changes the hash")
}
