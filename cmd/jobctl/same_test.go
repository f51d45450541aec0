package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/launch"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

// notDefault is a value other than the default for every setting; a
// setting added to jobs.SettingsTable without one here fails the test, so
// each new setting is proven to reach the Job from both sides.
var notDefault = map[string]string{
	"namespace":               "team-b-jobs",
	"serviceAccount":          "runner",
	"managedBy":               "someone-else",
	"fetcherImage":            "registry.example/initcontainer:2.0.0",
	"fetcherImagePullPolicy":  "Always",
	"keptnResourceURL":        "https://rs.example:8443",
	"keptnAPIURL":             "https://keptn.example/api",
	"keptnAPITokenSecret":     "tok/api-token",
	"keptnInsecureSkipVerify": "true",
	"caConfigMap":             "keptn-ca/ca.crt",
	"fetchTimeout":            "90s",
	"taskDeadline":            "7m",
	"workspaceSize":           "64Mi",
	"maxWorkspaceSize":        "2Gi",
	"taskResources":           "{requests: {cpu: 100m, memory: 256Mi}, limits: {cpu: 2, memory: 1Gi}}",
	"fetcherResources":        "{requests: {cpu: 20m, memory: 32Mi}, limits: {cpu: 300m, memory: 96Mi}}",
	"ttlSecondsAfterFinished": "120",
	"runAsUser":               "2000",
	"runAsGroup":              "2001",
	"fsGroup":                 "2002",
	"genericConfigMap":        "job-files",
	"genericResultType":       "org.acme.job.done",
}

const sameConfig = `apiVersion: v2
actions:
  - name: run tests
    events:
      - name: sh.keptn.event.test.triggered
    tasks:
      - name: greet
        files: [locust/basic.py]
        image: alpine:3.20
        cmd: [echo, hello]
`

// TestFunctionAndJobctlSameJob gives every setting, with a value other than
// its default, to the function (environment) and to jobctl (--settings
// file): both accept all of them, and for the same config and event the
// Job the function's handler creates is the Job jobctl renders.
func TestFunctionAndJobctlSameJob(t *testing.T) {
	env := map[string]string{}
	var file strings.Builder
	for _, s := range jobs.SettingsTable {
		v, ok := notDefault[s.Key]
		require.True(t, ok, "no test value for %s: add one to notDefault", s.Key)
		if s.Key == "keptnInsecureSkipVerify" {
			// Contradicts caConfigMap (Settings.Validate); proven alone below.
			continue
		}
		env[s.Env] = v
		file.WriteString(s.Key + ": " + v + "\n")
	}
	fromEnv, err := function.JobSettings(env)
	require.NoError(t, err)
	fromFile, err := parseSettings("settings.yaml", []byte(file.String()))
	require.NoError(t, err)
	require.Equal(t, fromEnv, fromFile)
	for _, s := range jobs.SettingsTable {
		require.NotEqual(t, jobs.DefaultSettings(), func() jobs.Settings {
			one, err := function.JobSettings(map[string]string{s.Env: notDefault[s.Key], "KEPTN_API_URL": jobs.DefaultSettings().KeptnAPIURL})
			require.NoError(t, err, s.Env)
			return one
		}(), "%s changes nothing", s.Env)
	}

	pol, err := loadPolicy("")
	require.NoError(t, err)
	ev := sameEvent(t)
	rendered, err := renderJobs(context.Background(), pol, localConfig{level: "service", data: []byte(sameConfig)}, ev, fromFile)
	require.NoError(t, err)
	require.Len(t, rendered.jobs, 1)
	want := rendered.jobs[0]

	got := functionJob(t, fromEnv, ev)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.Namespace, got.Namespace)
	assert.Equal(t, want.Labels, got.Labels)
	assert.Equal(t, want.Spec, got.Spec)
	for k, v := range want.Annotations {
		if k == jobs.AnnotationConfigFile {
			// Names the source: a local directory has no commit to cite.
			continue
		}
		assert.Equal(t, v, got.Annotations[k], "annotation %s", k)
	}
	// The settings that only reach the fetcher did reach it.
	fetch := got.Spec.Template.Spec.InitContainers[0]
	assert.Contains(t, strings.Join(fetch.Args, " "), "90")
	assert.NotEmpty(t, fetch.VolumeMounts)
}

func sameEvent(t *testing.T) *keptn.TaskEvent {
	t.Helper()
	raw, err := os.ReadFile(testEvent)
	require.NoError(t, err)
	var ce event.Event
	require.NoError(t, json.Unmarshal(raw, &ce))
	ev, err := keptn.ParseTaskEvent(ce)
	require.NoError(t, err)
	return ev
}

// functionJob runs the function's handler, wired as Function.Start wires
// it, against a fake API server and returns the Job it created.
func functionJob(t *testing.T, s jobs.Settings, ev *keptn.TaskEvent) *batchv1.Job {
	t.Helper()
	root := t.TempDir()
	p := filepath.Join(root, "project", ev.Project, "stage", ev.Stage, "service", ev.Service, "resource", jobconfig.ResourceURI)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(sameConfig), 0o644))
	dir, err := resources.NewDirSource(root)
	require.NoError(t, err)
	pol, err := loadPolicy("")
	require.NoError(t, err)
	kube := fake.NewClientset()
	out := &sink.Log{W: io.Discard}
	h := &launch.Handler{
		Configs:  &launch.Configs{Resources: dir, Options: parseOptions(pol)},
		Jobs:     func(ns string) launch.JobClient { return kube.BatchV1().Jobs(ns) },
		Settings: s,
		Policy:   pol,
		Responses: &reporter.Sender{
			Jobs:     func(ns string) claim.JobClient { return kube.BatchV1().Jobs(ns) },
			Sink:     out,
			Source:   "job-executor-knative",
			Holder:   "replica",
			ClaimTTL: time.Minute,
		},
		Sink:     out,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		BusyWait: time.Second,
	}
	res, err := h.Handle(context.Background(), ev)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	list, err := kube.BatchV1().Jobs(s.Namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	return &list.Items[0]
}
