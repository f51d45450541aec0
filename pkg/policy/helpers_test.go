package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// action builds a job config with one action, so tests state only what
// they are about. Options add action fields and tasks, each task written
// as its YAML lines.
type actionSpec struct {
	fields []string
	tasks  [][]string
}

type actionOpt func(*actionSpec)

func withTask(lines ...string) actionOpt {
	return func(a *actionSpec) { a.tasks = append(a.tasks, lines) }
}

// withImageTask is a task that runs image, with more fields.
func withImageTask(image string, more ...string) actionOpt {
	return withTask(append([]string{"image: " + image}, more...)...)
}

func withField(line string) actionOpt {
	return func(a *actionSpec) { a.fields = append(a.fields, line) }
}

func configYAML(opts ...actionOpt) string {
	a := &actionSpec{}
	for _, o := range opts {
		o(a)
	}
	var b strings.Builder
	b.WriteString("apiVersion: v2\nactions:\n  - name: act\n    events:\n      - name: sh.keptn.event.test.triggered\n")
	for _, f := range a.fields {
		b.WriteString("    " + f + "\n")
	}
	b.WriteString("    tasks:\n")
	for i, t := range a.tasks {
		named := false
		for _, line := range t {
			named = named || strings.HasPrefix(line, "name:") || strings.HasPrefix(line, "plugin:")
		}
		if !named {
			t = append([]string{fmt.Sprintf("name: task%d", i)}, t...)
		}
		for j, line := range t {
			if j == 0 {
				b.WriteString("      - " + line + "\n")
			} else {
				b.WriteString("        " + line + "\n")
			}
		}
	}
	return b.String()
}

func parseConfig(t testing.TB, yaml string) *jobconfig.Config {
	t.Helper()
	cfg, err := jobconfig.Parse("job/config.yaml", []byte(yaml))
	require.NoError(t, err, yaml)
	return cfg
}

func parsePolicy(t testing.TB, yaml string, opts ...Option) *Policy {
	t.Helper()
	p, err := Parse("policy.yaml", []byte(yaml), opts...)
	require.NoError(t, err, yaml)
	return p
}

type eventOpt func(*keptn.TaskEvent)

func withData(k string, v any) eventOpt {
	return func(ev *keptn.TaskEvent) { ev.Data[k] = v }
}

func testEvent(opts ...eventOpt) *keptn.TaskEvent {
	ev := &keptn.TaskEvent{
		ID: "ev-1", Type: "sh.keptn.event.test.triggered", Task: "test", Kind: "triggered",
		Source: "shipyard-controller", Context: "ctx-1", Project: "p", Stage: "s", Service: "v",
		Data: map[string]any{"project": "p", "stage": "s", "service": "v"},
	}
	for _, o := range opts {
		o(ev)
	}
	return ev
}

func testSettings() jobs.Settings {
	s := jobs.DefaultSettings()
	s.Namespace = "keptn-jobs"
	s.ServiceAccount = "keptn-job"
	return s
}

// admit runs the whole check for the config's first action.
func admit(t testing.TB, p *Policy, cfgYAML string, ev *keptn.TaskEvent) (*jobconfig.Config, error) {
	t.Helper()
	return p.Admit(context.Background(), parseConfig(t, cfgYAML), 0, ev, testSettings())
}

// secretStore is an in-memory SecretReader: Secrets by namespace/name with
// their labels, answering NotFound for others, and err for every call when
// set.
type secretStore struct {
	labels map[string]map[string]string
	err    error
	calls  int
}

func (s *secretStore) SecretLabels(_ context.Context, namespace, name string) (map[string]string, error) {
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	l, ok := s.labels[namespace+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
	}
	return l, nil
}
