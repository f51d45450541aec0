package policy

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

const catalog = `apiVersion: v1
plugins:
  keptn-contrib/helm-deploy-job:
    image: ghcr.io/keptn-contrib/helm@sha256:` + hex64 + `
    command: [helm]
    args: [upgrade, --install, $(RELEASE), /keptn/helm]
    with:
      RELEASE: {default: app}
  keptn-contrib/locust-test-job:
    image: ghcr.io/keptn-contrib/locust@sha256:` + hex64 + `
    command: [locust]
    args: [--locustfile, /keptn/$(LOCUST_TEST), --headless]
    workingDir: /keptn
    env: {LOCUST_SKIP_MONKEY_PATCH: "1"}
    with:
      LOCUST_TEST: {required: true}
      USERS: {type: int, default: 10, env: LOCUST_USERS}
      HEADLESS: {type: bool}
`

func envMap(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// The seed's two plugin examples, as written, parse and become containers
// from the catalog.
func TestSeedPluginExamplesRender(t *testing.T) {
	p := parsePolicy(t, catalog)
	tests := []struct {
		file    string
		event   string
		image   string
		command []string
		args    []string
		env     map[string]string
	}{
		{"seed-plugin-helm.yaml", "sh.keptn.event.deployment.triggered", "ghcr.io/keptn-contrib/helm@sha256:" + hex64,
			[]string{"helm"}, []string{"upgrade", "--install", "$(RELEASE)", "/keptn/helm"}, map[string]string{"RELEASE": "app"}},
		{"seed-plugin-locust.yaml", "sh.keptn.event.test.triggered", "ghcr.io/keptn-contrib/locust@sha256:" + hex64,
			[]string{"locust"}, []string{"--locustfile", "/keptn/$(LOCUST_TEST)", "--headless"},
			map[string]string{"LOCUST_TEST": "locust/basic.py", "LOCUST_USERS": "10", "LOCUST_SKIP_MONKEY_PATCH": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("../jobconfig/testdata/" + tt.file)
			require.NoError(t, err)
			cfg, err := jobconfig.Parse(tt.file, data)
			require.NoError(t, err)
			ev := testEvent()
			ev.Type = tt.event
			require.Equal(t, []int{0}, cfg.Match(ev.Type, ev.Document()))

			admitted, err := p.Admit(context.Background(), cfg, 0, ev, testSettings())
			require.NoError(t, err)
			job, err := jobs.Build(admitted, 0, ev, testSettings())
			require.NoError(t, err)
			require.NoError(t, p.CheckJob(job, testSettings()))

			c := job.Spec.Template.Spec.Containers[0]
			assert.Equal(t, tt.image, c.Image)
			assert.Equal(t, tt.command, c.Command)
			assert.Equal(t, tt.args, c.Args)
			env := envMap(c)
			for k, v := range tt.env {
				assert.Equal(t, v, env[k], k)
			}
			assert.NotContains(t, env, "HEADLESS", "an optional parameter without default sets nothing")
			assert.Equal(t, "KEPTN_PROJECT", c.Env[0].Name, "the task still gets the Keptn context first")
		})
	}
}

func TestPluginTaskErrors(t *testing.T) {
	p := parsePolicy(t, catalog)
	locust := func(lines ...string) actionOpt {
		return withTask(append([]string{"plugin: keptn-contrib/locust-test-job"}, lines...)...)
	}
	tests := []struct {
		name string
		task actionOpt
		want []string
	}{
		{"unknown plugin", withTask("plugin: keptn-contrib/nope"),
			[]string{"actions[0].tasks[0].plugin", `unknown plugin "keptn-contrib/nope"`, "keptn-contrib/helm-deploy-job, keptn-contrib/locust-test-job"}},
		{"undeclared key", locust("with: {LOCUST_TEST: a.py, RPS: 5}"),
			[]string{`actions[0].tasks[0].with["RPS"]`, "takes no parameter RPS", "LOCUST_TEST (string, required)"}},
		{"missing required key", locust("with: {USERS: 5}"),
			[]string{"actions[0].tasks[0].with", "requires LOCUST_TEST"}},
		{"wrong int", locust("with: [LOCUST_TEST=a.py, USERS=many]"),
			[]string{`with["USERS"]`, `must be an integer (got "many")`}},
		{"wrong bool", locust("with: [LOCUST_TEST=a.py, HEADLESS=maybe]"),
			[]string{`with["HEADLESS"]`, "must be true or false"}},
		{"env clashing with a parameter", locust("with: {LOCUST_TEST: a.py}", "env:", "  - {name: LOCUST_USERS, value: \"1\"}"),
			[]string{"sets LOCUST_USERS, which the task's env also sets"}},
		{"workingDir", locust("with: {LOCUST_TEST: a.py}", "workingDir: /tmp"),
			[]string{"workingDir", "the plugin defines it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := admit(t, p, configYAML(tt.task), testEvent())
			refusedAt(t, err, 7, tt.want...)
		})
	}
}

func TestPluginValuesAreTyped(t *testing.T) {
	p := parsePolicy(t, catalog)
	out, err := admit(t, p, configYAML(withTask("plugin: keptn-contrib/locust-test-job", "with: [LOCUST_TEST=a.py, USERS= 7, HEADLESS=1]")), testEvent())
	require.NoError(t, err)
	env := map[string]string{}
	for _, e := range out.Actions[0].Tasks[0].Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, "7", env["LOCUST_USERS"], "ints are canonical")
	assert.Equal(t, "true", env["HEADLESS"], "bools are canonical")
}

func TestPluginEnvOnlyWhereAllowed(t *testing.T) {
	task := withTask("plugin: echo", "env:", "  - {name: LD_PRELOAD, value: /keptn/evil.so}")
	open := parsePolicy(t, "apiVersion: v1\nplugins:\n  echo: {image: \"ghcr.io/a/echo@sha256:"+hex64+"\"}\n")
	_, err := admit(t, open, configYAML(task), testEvent())
	require.NoError(t, err, "outside pluginsOnly a config may run any image anyway")

	closed := parsePolicy(t, "apiVersion: v1\npluginsOnly: true\nplugins:\n  echo: {image: \"ghcr.io/a/echo@sha256:"+hex64+"\"}\n")
	_, err = admit(t, closed, configYAML(task), testEvent())
	refusedAt(t, err, 9, "actions[0].tasks[0].env[0]", `plugin "echo" takes no env of the task's own`)
}

func TestPluginImagesSkipAllowButNotDeny(t *testing.T) {
	const base = "apiVersion: v1\nplugins:\n  echo: {image: \"ghcr.io/a/echo@sha256:" + hex64 + "\"}\nimages:\n  registries: [quay.io]\n  allow: [quay.io/**]\n"
	_, err := admit(t, parsePolicy(t, base), configYAML(withTask("plugin: echo")), testEvent())
	require.NoError(t, err, "the operator wrote the catalog")

	_, err = admit(t, parsePolicy(t, base+"  deny: [ghcr.io/a/**]\n"), configYAML(withTask("plugin: echo")), testEvent())
	refusedAt(t, err, 7, "images.deny[0]")
}
