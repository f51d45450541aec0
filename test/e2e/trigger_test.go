package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// scenario is one of the end-to-end scenarios job-executor-service's users
// relied on (hello world, env, files, folder, locust, nginx, cleanup,
// egress): a job config and a task event of the fixtures, replayed against
// our function.
type scenario struct {
	name  string
	event string // testdata/events/e2e/<event>.triggered.json
	// files are resources to commit, by layout key; "config" is shorthand
	// for the service-level job/config.yaml of the event's scope.
	config string // testdata/jobconfigs/<config>
	files  map[string]string
	// fetched are the files (of files) the Job's real fetcher must place
	// in the workspace, byte for byte, and nothing else.
	fetched []string
	// check looks at the Jobs the apiserver accepted.
	check func(t *testing.T, e *env, job batchv1.Job)
	// secrets are Secrets the config reads, created opted in
	// (job-executor.keptn.sh/job-env=true) in the job namespace.
	secrets []string
}

func scenarios(t *testing.T) []scenario {
	return []scenario{
		{name: "helloworld", event: "plain", config: "hello-world.yaml",
			check: func(t *testing.T, e *env, job batchv1.Job) {
				c := job.Spec.Template.Spec.Containers[0]
				assert.Equal(t, []string{"echo"}, c.Command)
				assert.Equal(t, []string{"Hello World"}, c.Args)
			}},
		{name: "envvar", event: "env", config: "env.yaml", secrets: []string{"database-credentials"},
			check: func(t *testing.T, e *env, job batchv1.Job) {
				env := map[string]string{}
				for _, c := range job.Spec.Template.Spec.InitContainers {
					for _, v := range c.Env {
						env[v.Name] = v.Value
					}
				}
				assert.Equal(t, "JSON_PATH_LABEL_VALUE", env["FROM-EVENT-label"])
				assert.Equal(t, "<displayed>", env["FROM-EVENT-second"])
				assert.JSONEq(t, `{"jsonPathArray":["<not-displayed>","<displayed>"]}`, env["FROM-EVENT-object"])
				assert.Equal(t, "EXAMPLE_LABEL", env["LABELS_E2E_LABEL"])
			}},
		{name: "files", event: "plain", config: "files.yaml",
			files: map[string]string{
				"small.file":      "small\n",
				"folder/file.py":  "print('hello')\n",
				"folder/big.file": strings.Repeat("0123456789abcdef", 40<<10),
				"folder/other.py": "not listed, so not fetched\n",
			},
			fetched: []string{"small.file", "folder/file.py", "folder/big.file"}},
		{name: "folder", event: "plain", config: "folder.yaml",
			files: map[string]string{
				"helm/Chart.yaml":              "apiVersion: v2\nname: carts\n",
				"helm/values.yaml":             "replicas: 1\n",
				"helm/templates/deploy.yaml":   "kind: Deployment\n",
				"helmet/not-in-the-folder.txt": "a prefix is not a folder\n",
			},
			fetched: []string{"helm/Chart.yaml", "helm/values.yaml", "helm/templates/deploy.yaml"}},
		{name: "locust", event: "locust", config: "locust.yaml",
			files: map[string]string{
				"locust/basic.py":    readFixture(t, "repo/locust/basic.py"),
				"locust/locust.conf": readFixture(t, "repo/locust/locust.conf"),
			},
			fetched: []string{"locust/basic.py", "locust/locust.conf"},
			check: func(t *testing.T, e *env, job batchv1.Job) {
				assert.Equal(t, "test", job.Labels[jobs.LabelTask])
			}},
		{name: "nginx", event: "plain", config: "nginx.yaml"},
		{name: "jobcleanup", event: "sleep", config: "cleanup.yaml",
			check: func(t *testing.T, e *env, job batchv1.Job) {
				// JES raised TTLs under 60 s to 60 s; so do we (docs/config.md).
				assert.Equal(t, int32(60), *job.Spec.TTLSecondsAfterFinished)
			}},
		{name: "job-egress", event: "plain", config: "egress.yaml"},
	}
}

func TestScenariosCreateJobsAndStarted(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t)
			fn := e.startFunction("replica-0")
			ce := taskEvent(t, sc.event, "")
			data := dataOf(t, ce)
			p, st, sv := data["project"].(string), data["stage"].(string), data["service"].(string)
			repo := map[string]string{serviceResource(p, st, sv, "job/config.yaml"): readFixture(t, "jobconfigs/"+sc.config)}
			for uri, content := range sc.files {
				repo[serviceResource(p, st, sv, uri)] = content
			}
			e.commit(repo)
			for _, name := range sc.secrets {
				e.createSecret(e.ns, name, map[string]string{optInLabel: "true"})
			}
			require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))

			created := e.jobsOf(ce.ID())
			require.Len(t, created, 1, "one Job per matching action")
			job := created[0]
			assert.Equal(t, e.ns, job.Namespace)
			assert.NotEmpty(t, job.UID, "accepted by the real apiserver")
			assert.Eventually(t, func() bool {
				// Recorded just after the answer (launch.Background).
				return e.jobsOf(ce.ID())[0].Annotations[jobs.AnnotationStarted] != ""
			}, 10*time.Second, 20*time.Millisecond, ".started is recorded on the Job")
			if sc.check != nil {
				sc.check(t, e, job)
			}
			if sc.fetched != nil {
				tree := e.fetch(job)
				want := map[string]string{}
				for _, f := range sc.fetched {
					want[f] = sc.files[f]
				}
				got := map[string]string{}
				for k, v := range tree {
					got[k] = string(v)
				}
				assert.Equal(t, want, got, "the workspace holds exactly the listed files, byte for byte")
			}

			started := e.eventsFor(ce.ID(), "sh.keptn.event."+taskOf(ce)+".started")
			require.Len(t, started, 1)
			assert.Equal(t, ce.Extensions()["shkeptncontext"], started[0].Shkeptncontext)
			assert.Equal(t, data["project"], started[0].Data["project"])
			assert.Equal(t, data["stage"], started[0].Data["stage"])
			assert.Equal(t, data["service"], started[0].Data["service"])

			// Redelivery answers as the first time and creates nothing.
			require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
			assert.Len(t, e.jobsOf(ce.ID()), 1)
			assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event."+taskOf(ce)+".started"), 1)
		})
	}
}

func TestConfigLookupFallsBackServiceStageProject(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.commit(map[string]string{
		serviceResource("e2e-project", "dev", "service-1", "job/config.yaml"): readFixture(t, "jobconfigs/lookup-service.yaml"),
		"project/e2e-project/stage/dev/resource/job/config.yaml":              readFixture(t, "jobconfigs/lookup-stage.yaml"),
		"project/e2e-project/resource/job/config.yaml":                        readFixture(t, "jobconfigs/lookup-project.yaml"),
	})
	tests := []struct {
		event, wantLevel string
	}{
		{"lookup-dev-1", "service"},
		{"lookup-dev-2", "stage"},
		{"lookup-prod", "project"},
	}
	for _, tt := range tests {
		ce := taskEvent(t, tt.event, "")
		require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce), tt.event)
		created := e.jobsOf(ce.ID())
		require.Len(t, created, 1, tt.event)
		assert.Contains(t, created[0].Annotations[jobs.AnnotationConfigFile], "("+tt.wantLevel+" level", tt.event)
	}
}

func TestConfigIsReadAtTheEventsCommit(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	key := serviceResource("e2e-project", "e2e", "e2e-service", "job/config.yaml")
	old := e.commit(map[string]string{key: readFixture(t, "jobconfigs/old-commit.yaml")})
	head := e.commit(map[string]string{key: readFixture(t, "jobconfigs/hello-world.yaml")})
	data := map[string]any{"project": "e2e-project", "stage": "e2e", "service": "e2e-service"}

	for commit, want := range map[string]string{old: "This commit must not be used", head: "Hello World"} {
		ce := newTriggered("deployment", data, commit)
		require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
		created := e.jobsOf(ce.ID())
		require.Len(t, created, 1)
		assert.Equal(t, []string{want}, created[0].Spec.Template.Spec.Containers[0].Args, "commit %s", commit)
	}
}

func TestBrokerSameEventTwiceAtOnce(t *testing.T) {
	e := newEnv(t)
	a, b := e.startFunction("replica-a"), e.startFunction("replica-b")
	e.commit(map[string]string{serviceResource("e2e-project", "e2e", "e2e-service", "job/config.yaml"): readFixture(t, "jobconfigs/hello-world.yaml")})
	for range 5 {
		ce := newTriggered("deployment", map[string]any{"project": "e2e-project", "stage": "e2e", "service": "e2e-service"}, "")
		var wg sync.WaitGroup
		statuses := make([]int, 4)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				url := a.url
				if i%2 == 1 {
					url = b.url
				}
				statuses[i] = deliver(t, url, ce)
			}()
		}
		wg.Wait()
		for _, s := range statuses {
			// A duplicate that finds the other replica mid-send is told to
			// come back (503) and the Broker redelivers it after 1 s; only a
			// publication the distributor gave up on could end in 503.
			assert.Contains(t, []int{http.StatusAccepted, http.StatusServiceUnavailable}, s)
		}
		require.Equal(t, http.StatusAccepted, deliver(t, a.url, ce), "a later redelivery settles")
		assert.Len(t, e.jobsOf(ce.ID()), 1, "one Job")
		assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.deployment.started"), 1, "one .started")
	}
}

func TestAnswers(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	data := map[string]any{"project": "e2e-project", "stage": "e2e", "service": "e2e-service"}

	t.Run("no config: 202 and nothing created", func(t *testing.T) {
		ce := newTriggered("deployment", map[string]any{"project": "e2e-project", "stage": "e2e", "service": "unconfigured"}, "")
		assert.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
		assert.Empty(t, e.jobsOf(ce.ID()))
		assert.Empty(t, e.eventsFor(ce.ID(), "sh.keptn.event.deployment.started"))
	})
	t.Run("malformed data: 400", func(t *testing.T) {
		ce := newTriggered("deployment", map[string]any{"project": "p"}, "")
		assert.Equal(t, http.StatusBadRequest, deliver(t, fn.url, ce))
	})

	e.commit(map[string]string{serviceResource("e2e-project", "e2e", "e2e-service", "job/config.yaml"): readFixture(t, "jobconfigs/hello-world.yaml")})
	t.Run("no matching action: 202 and nothing created", func(t *testing.T) {
		ce := newTriggered("test", data, "")
		assert.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
		assert.Empty(t, e.jobsOf(ce.ID()))
	})
	// Keptn down (503, redelivery, no duplicates): TestBrokerKeptnDownRedelivers.
}

func TestInvalidConfigFailsTheMatchingActionLoudly(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.commit(map[string]string{serviceResource("e2e-project", "e2e", "e2e-service", "job/config.yaml"): `apiVersion: v2
actions:
  - name: "Deploy"
    events:
      - name: "sh.keptn.event.deployment.triggered"
    tasks:
      - name: "Greet"
        image: "alpine"
        imagePullPolicy: Sometimes
`})
	ce := newTriggered("deployment", map[string]any{"project": "e2e-project", "stage": "e2e", "service": "e2e-service"}, "")
	for range 2 { // the redelivery must not send a second .finished
		require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	}
	logs := e.keptn.EventsOfType("sh.keptn.log.error")
	require.NotEmpty(t, logs)
	assert.Contains(t, logs[0].Data["message"], "imagePullPolicy")

	require.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.deployment.started"), 1)
	finished := e.eventsFor(ce.ID(), "sh.keptn.event.deployment.finished")
	require.Len(t, finished, 1)
	assert.Equal(t, "errored", finished[0].Data["status"])
	assert.Equal(t, "fail", finished[0].Data["result"])
	assert.Contains(t, finished[0].Data["message"], "job/config.yaml (service level")
	assert.Contains(t, finished[0].Data["message"], ":9:")
	assert.Contains(t, finished[0].Data["message"], "actions[0].tasks[0].imagePullPolicy")

	rec := e.jobsOf(ce.ID())
	require.Len(t, rec, 1)
	assert.True(t, *rec[0].Spec.Suspend, "a record Job never runs")
	pods, err := e.kube.CoreV1().Pods(rec[0].Namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items)
}

func TestJobsPassRestrictedPodSecurity(t *testing.T) {
	e := newEnv(t)
	e.ns = restrictedNamespace(t)
	e.prepareNamespace(e.ns)
	fn := e.startFunction("replica-0")
	e.commit(map[string]string{serviceResource("e2e-project", "e2e", "e2e-service", "job/config.yaml"): readFixture(t, "jobconfigs/files.yaml")})
	ce := newTriggered("deployment", map[string]any{"project": "e2e-project", "stage": "e2e", "service": "e2e-service"}, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	created := e.jobsOf(ce.ID())
	require.Len(t, created, 1)
	// The Job controller, not the function, creates the pod: dry-run the
	// pod template so PSA "restricted" judges exactly what will run.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "psa-", Namespace: e.ns},
		Spec:       created[0].Spec.Template.Spec,
	}
	_, err := e.kube.CoreV1().Pods(e.ns).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	require.NoError(t, err, "the pod template passes Pod Security Admission restricted")
}

func TestSilentActionRunsButSendsNothing(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.setConfig(`apiVersion: v2
actions:
  - name: "Notify quietly"
    silent: true
    events:
      - name: "sh.keptn.event.deployment.triggered"
    tasks:
      - name: "notify"
        image: "alpine:3.20"
        cmd: [echo, done]
`)
	ce := newTriggered("deployment", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	created := e.jobsOf(ce.ID())
	require.Len(t, created, 1, "a silent action still runs")
	waitJobCondition(t, context.Background(), e.kube, e.ns, created[0].Name, "Complete")
	require.Equal(t, http.StatusAccepted, ping(t, fn.url))
	assert.Empty(t, e.eventsFor(ce.ID(), "sh.keptn.event.deployment.started"))
	assert.Empty(t, e.eventsFor(ce.ID(), "sh.keptn.event.deployment.finished"))
}
