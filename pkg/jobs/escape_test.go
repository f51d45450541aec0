package jobs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
)

// expand is Kubernetes' $(VAR) expansion of env values, command and args
// (k8s.io/kubernetes third_party/forked/golang/expansion): $$ is $, $(NAME)
// is the variable when it is defined (else left as written), any other $ is
// itself.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

var secretVars = map[string]string{"password": "hunter2", "KEPTN_API_TOKEN": "token", "": "empty"}

// TestEventValuesAreNotExpanded: what an event says reaches the task as it
// said it, never as the Secret it names (issue 16, point 7).
func TestEventValuesAreNotExpanded(t *testing.T) {
	cfg, err := jobconfig.Parse("job/config.yaml", []byte(`apiVersion: v2
actions:
  - name: a
    events:
      - name: sh.keptn.event.deployment.triggered
    tasks:
      - name: t
        image: alpine
        files: ["$(KEPTN_API_TOKEN)"]
        env:
          - {name: URL, value: $.data.deployment.url, valueFrom: event}
          - {name: DOC, value: $.data.deployment, valueFrom: event, as: json}
          - {name: LITERAL, value: "$(password) is the author's to expand"}
`))
	require.NoError(t, err)
	ev := triggered(t, withData(map[string]any{
		"project": "p", "stage": "s", "service": "v",
		"labels":     map[string]string{"note": "$(password)", "cost": "$$(password)"},
		"deployment": map[string]any{"url": "$(password)"},
	}))
	job, err := Build(cfg, 0, ev, testSettings())
	require.NoError(t, err)
	spec := job.Spec.Template.Spec
	env := map[string]string{}
	for _, e := range spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	for name, want := range map[string]string{
		"URL":           "$(password)",
		"DOC":           `{"url":"$(password)"}`,
		"LABELS_NOTE":   "$(password)",
		"LABELS_COST":   "$$(password)",
		"LITERAL":       "hunter2 is the author's to expand",
		"KEPTN_PROJECT": "p",
	} {
		assert.Equal(t, want, expand(env[name], secretVars), name)
	}
	fetcher := spec.InitContainers[0]
	require.Equal(t, FetcherContainer, fetcher.Name)
	last := fetcher.Args[len(fetcher.Args)-1]
	assert.Equal(t, "$(KEPTN_API_TOKEN)", expand(last, secretVars), "a file entry stays a file name")
}

// FuzzEscapeExpansion: whatever the string and whatever variables exist,
// Kubernetes' expansion of the escaped string is the string.
func FuzzEscapeExpansion(f *testing.F) {
	for _, s := range []string{"$(password)", "$$(password)", "$$$(password)", "$", "a$", "$(", "$()", "$(a", "$x$(KEPTN_API_TOKEN)$$", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := expand(EscapeExpansion(s), secretVars); got != s {
			t.Fatalf("%q escaped as %q expands to %q", s, EscapeExpansion(s), got)
		}
	})
}

// TestLabelEnvNames: label keys that cannot be variables, or that would
// overwrite each other, are an error naming them, never a silent choice.
func TestLabelEnvNames(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want map[string]string
		err  string
	}{
		{"plain", []string{"build-id", "my label", "x.y"}, map[string]string{"build-id": "LABELS_BUILD_ID", "my label": "LABELS_MY_LABEL", "x.y": "LABELS_X.Y"}, ""},
		{"collision", []string{"a-b", "a b"}, nil, `labels "a b" and "a-b" both become LABELS_A_B`},
		{"collision by case", []string{"Team", "team"}, nil, `labels "Team" and "team" both become LABELS_TEAM`},
		{"equals sign", []string{"x=y"}, nil, `label "x=y" becomes "LABELS_X=Y", which is not a valid environment variable name`},
		{"not ASCII", []string{"ü"}, nil, `label "ü" becomes "LABELS_Ü", which is not a valid environment variable name`},
		{"none", nil, map[string]string{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LabelEnvNames(tc.keys)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestBuildRefusesCollidingLabels(t *testing.T) {
	cfg := parse(t, jobConfigs+"hello-world.yaml")
	ev := triggered(t, withData(map[string]any{"project": "p", "stage": "s", "service": "v", "labels": map[string]string{"a b": "1", "a-b": "2"}}))
	_, err := Build(cfg, 0, ev, testSettings())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `labels "a b" and "a-b" both become LABELS_A_B`)
}

// FuzzLabelEnvNames: an accepted set of labels gives every key its own
// valid variable, and the answer does not depend on the order of the keys.
func FuzzLabelEnvNames(f *testing.F) {
	f.Add("a b", "a-b", "c")
	f.Add("x=y", "ü", "ok")
	f.Add("build-id", "sleep", "Team")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		got, err := LabelEnvNames([]string{a, b, c})
		_, errRev := LabelEnvNames([]string{c, b, a})
		if (err == nil) != (errRev == nil) {
			t.Fatalf("order changes the answer: %v vs %v", err, errRev)
		}
		if err != nil {
			return
		}
		seen := map[string]string{}
		for k, name := range got {
			if msgs := validation.IsEnvVarName(name); len(msgs) > 0 {
				t.Fatalf("%q: invalid name %q", k, name)
			}
			if other, dup := seen[name]; dup {
				t.Fatalf("%q and %q both %s", other, k, name)
			}
			seen[name] = k
		}
	})
}
