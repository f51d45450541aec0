package jobs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

func genericEvent() *keptn.TaskEvent {
	raw := `{"specversion":"1.0","id":"e-1","source":"ci","type":"com.example.build","subject":"commit/4f2a","data":{"repo":"shop","note":"$(KEPTN_API_TOKEN)"}}`
	return &keptn.TaskEvent{
		ID: "e-1", Type: "com.example.build", Source: "ci", Kind: keptn.KindTriggered, Generic: true,
		Whole: map[string]any{"id": "e-1", "source": "ci", "type": "com.example.build", "subject": "commit/4f2a",
			"data": map[string]any{"repo": "shop", "note": "$(KEPTN_API_TOKEN)"}},
		Raw: []byte(raw),
	}
}

func genericCfg(t *testing.T, files string) *jobconfig.Config {
	t.Helper()
	cfg, err := jobconfig.Parse("config.yaml", []byte(`apiVersion: v2
actions:
  - name: "Build"
    events:
      - name: "com.example.build"
    tasks:
      - name: "compile"
        image: "alpine:3.20"
        cmd: [make]`+files+`
        env:
          - name: SUBJECT
            value: "$.subject"
            valueFrom: event
`))
	require.NoError(t, err)
	return cfg
}

func TestBuildGeneric(t *testing.T) {
	s := DefaultSettings()
	s.GenericConfigMap = "job-files"
	s.GenericResultType = "{type}.finished"
	tests := []struct {
		name    string
		files   string
		s       Settings
		wantErr string
		check   func(t *testing.T, fetch corev1.Container, pod corev1.PodSpec)
	}{
		{name: "event only", s: s, check: func(t *testing.T, fetch corev1.Container, pod corev1.PodSpec) {
			assert.Equal(t, []string{"--generic", "--workspace=/keptn", "--max-bytes=20971520", "--"}, fetch.Args)
			require.Len(t, fetch.Env, 1)
			assert.Equal(t, EventEnv, fetch.Env[0].Name)
			assert.Contains(t, fetch.Env[0].Value, "$$(KEPTN_API_TOKEN)", "the event cannot expand a variable")
			for _, v := range pod.Volumes {
				assert.Nil(t, v.ConfigMap, "no files, no ConfigMap")
			}
		}},
		{name: "files from the ConfigMap", s: s, files: "\n        files: [Makefile]", check: func(t *testing.T, fetch corev1.Container, pod corev1.PodSpec) {
			assert.Equal(t, "Makefile", fetch.Args[len(fetch.Args)-1])
			assert.Contains(t, fetch.Env, corev1.EnvVar{Name: FilesDirEnv, Value: genericFilesPath})
			var cm string
			for _, v := range pod.Volumes {
				if v.ConfigMap != nil {
					cm = v.ConfigMap.Name
				}
			}
			assert.Equal(t, "job-files", cm)
		}},
		{name: "a path is not a key", s: s, files: "\n        files: [locust/basic.py]", wantErr: "config.yaml:7:9: actions[0].tasks[0].files: \"locust/basic.py\" is not a ConfigMap key"},
		{name: "files without a ConfigMap", s: DefaultSettings(), files: "\n        files: [Makefile]", wantErr: "GENERIC_CONFIGMAP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job, err := Build(genericCfg(t, tt.files), 0, genericEvent(), tt.s)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.True(t, IsGeneric(job))
			assert.Equal(t, "com.example.build.finished", job.Annotations[AnnotationResultType])
			assert.NotEmpty(t, job.Annotations[AnnotationStarted], "no .started is owed")
			assert.Equal(t, Name("ci", "e-1", 0, "Build"), job.Name)
			pod := job.Spec.Template.Spec
			require.Len(t, pod.InitContainers, 1)
			fetch := pod.InitContainers[0]
			assert.Equal(t, FetcherContainer, fetch.Name)
			for _, v := range fetch.Env {
				assert.Nil(t, v.ValueFrom, "no Secret in a generic fetcher")
			}
			env := map[string]string{}
			for _, v := range pod.Containers[0].Env {
				env[v.Name] = v.Value
			}
			assert.Equal(t, EventFile, env[EventPathEnv])
			assert.Equal(t, "commit/4f2a", env["SUBJECT"])
			assert.Equal(t, "e-1", env["CE_ID"])
			_, keptnVar := env["KEPTN_PROJECT"]
			assert.False(t, keptnVar)
			tt.check(t, fetch, pod)
		})
	}
}

func TestRecordGenericIsMarked(t *testing.T) {
	rec, err := Record(genericEvent(), 0, "Build", "invalid", DefaultSettings())
	require.NoError(t, err)
	assert.True(t, IsGeneric(rec))
	assert.Equal(t, "dev.jobexecutor.job.finished", rec.Annotations[AnnotationResultType])
	assert.NotEmpty(t, rec.Annotations[AnnotationStarted], "its errored result is owed at once")
}
