package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy/policytest"
	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// The operator's policy, end to end: a function replica started with
// POLICY_FILE handles events whose configs hit every rule.

const (
	pluginDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	optInLabel   = "job-executor.keptn.sh/job-env"
	seedLocust   = "../../pkg/jobconfig/testdata/seed-plugin-locust.yaml"
)

// withPolicy writes policy to a file and makes the replicas started after
// it read that file.
func (e *env) withPolicy(policy string) {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "policy.yaml")
	require.NoError(e.t, os.WriteFile(path, []byte(policy), 0o600))
	e.extraEnv["POLICY_FILE"] = path
}

func pemBlock(k *policytest.Key, indent string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(k.PublicPEM), "\n") {
		b.WriteString(indent + line + "\n")
	}
	return b.String()
}

// fullPolicy uses every rule of the policy file.
func fullPolicy(reg *policytest.Registry, key *policytest.Key, otherNS string) string {
	return fmt.Sprintf(`apiVersion: v1
images:
  registries: [docker.io, testbed.local, %[1]s]
  allow:
    - docker.io/library/alpine:3.*
    - testbed.local/**
    - %[1]s/acme/**
  deny:
    - testbed.local/banned/**
  signatures:
    - name: acme release key
      images: [%[1]s/acme/**]
      keys:
        - |
%[2]s
plugins:
  keptn-contrib/locust-test-job:
    image: ghcr.io/keptn-contrib/locust@%[3]s
    command: [locust]
    args: [--locustfile, /keptn/$(LOCUST_TEST), --headless]
    with:
      LOCUST_TEST: {required: true}
      USERS: {type: int, default: 10, env: LOCUST_USERS}
namespaces: [%[4]s]
serviceAccounts: [deployer]
secrets:
  requireLabel: %[5]s=true
pods:
  allowNetBindService: true
resources:
  defaults:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 64Mi}
  max: {cpu: 500m, memory: 256Mi}
  maxWorkspace: 50Mi
limits:
  tasksPerAction: 3
  eventBytes: 4096
`, reg.Host(), strings.TrimRight(pemBlock(key, "          "), "\n"), pluginDigest, otherNS, optInLabel)
}

// oneTask is a config whose one action runs on test.triggered.
func oneTask(actionFields string, task string) string {
	return "apiVersion: v2\nactions:\n  - name: run\n    events:\n      - name: sh.keptn.event.test.triggered\n" +
		actionFields + "    tasks:\n      - name: t\n" + task
}

func imageTask(image string, more ...string) string {
	s := "        image: " + image + "\n        files: [data.txt]\n"
	for _, m := range more {
		s += "        " + m + "\n"
	}
	return s
}

func serviceScope(service string) map[string]any {
	return map[string]any{"project": "e2e-project", "stage": "e2e", "service": service}
}

// expectRefused delivers ce and checks that its action was refused: a
// suspended record Job, one .started and one errored .finished whose
// message contains every want.
func (e *env) expectRefused(t *testing.T, url string, ce event.Event, want ...string) {
	t.Helper()
	require.Equal(t, http.StatusAccepted, deliver(t, url, ce))
	created := e.jobsOf(ce.ID())
	require.Len(t, created, 1, "a record of the refusal")
	require.NotNil(t, created[0].Spec.Suspend)
	assert.True(t, *created[0].Spec.Suspend, "the refused action never runs")
	task := taskOf(ce)
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event."+task+".started"), 1)
	finished := e.eventsFor(ce.ID(), "sh.keptn.event."+task+".finished")
	require.Len(t, finished, 1)
	assert.Equal(t, "errored", finished[0].Data["status"])
	assert.Equal(t, "fail", finished[0].Data["result"])
	msg, _ := finished[0].Data["message"].(string)
	for _, w := range want {
		assert.Contains(t, msg, w)
	}
}

// expectJob delivers ce and returns the Job it created.
func (e *env) expectJob(t *testing.T, url string, ce event.Event) batchv1.Job {
	t.Helper()
	require.Equal(t, http.StatusAccepted, deliver(t, url, ce))
	created := e.jobsOf(ce.ID())
	require.Len(t, created, 1)
	job := created[0]
	require.False(t, job.Spec.Suspend != nil && *job.Spec.Suspend, "refused: %s", job.Annotations[jobs.AnnotationInvalid])
	// The pod may already have ended on kwok, and the function reports from
	// the pod's end; what must not be there is a refusal's errored .finished.
	for _, f := range e.eventsFor(ce.ID(), "sh.keptn.event."+taskOf(ce)+".finished") {
		assert.NotEqual(t, "errored", f.Data["status"], "admitted, yet reported errored: %v", f.Data["message"])
	}
	return job
}

// functionSubject is the ServiceAccount the replicas authenticate as (set
// up by startFunction with the shipped RBAC in e.ns).
func (e *env) functionSubject() rbacv1.Subject {
	e.t.Helper()
	bindings, err := e.kube.RbacV1().RoleBindings(e.ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(e.t, err)
	for _, b := range bindings.Items {
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == manifests.FunctionServiceAccount {
				return s
			}
		}
	}
	e.t.Fatalf("no RoleBinding in %s names the function's ServiceAccount", e.ns)
	return rbacv1.Subject{}
}

// addJobNamespace gives the function the shipped job-namespace RBAC in ns
// too, as an operator adding a namespace to the policy would.
func (e *env) addJobNamespace(ns string) {
	e.t.Helper()
	objs, err := manifests.RBACFor(e.functionSubject().Namespace, ns)
	require.NoError(e.t, err)
	var inNS []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetNamespace() == ns {
			inNS = append(inNS, o)
		}
	}
	require.NotEmpty(e.t, inNS)
	_, err = e.bed.ApplyObjects(context.Background(), "", inNS...)
	require.NoError(e.t, err)
}

func (e *env) createSecret(ns, name string, labels map[string]string) {
	e.t.Helper()
	_, err := e.kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		StringData: map[string]string{"token": "s3cr3t"},
	}, metav1.CreateOptions{})
	require.NoError(e.t, err)
}

func TestPolicyRulesEndToEnd(t *testing.T) {
	e := newEnv(t)
	otherNS := testbed.Namespace(t)
	e.prepareNamespace(otherNS)
	reg := policytest.NewRegistry(t)
	key := policytest.NewKey(t)
	signed := reg.Push("acme/tool", "v1")
	reg.Sign(signed, key, "")
	reg.Push("acme/unsigned", "v1")
	stranger := reg.Push("acme/stranger", "v1")
	reg.Sign(stranger, policytest.NewKey(t), "")
	e.createSecret(e.ns, "opted-in", map[string]string{optInLabel: "true"})
	e.createSecret(e.ns, "not-opted-in", nil)
	e.withPolicy(fullPolicy(reg, key, otherNS))
	fn := e.startFunction("replica-0")
	e.addJobNamespace(otherNS)
	locust, err := os.ReadFile(seedLocust)
	require.NoError(t, err)

	refused := []struct {
		name   string
		config string
		want   []string
	}{
		{"registry not listed", oneTask("", imageTask("quay.io/acme/tool:1")),
			[]string{`image "quay.io/acme/tool:1"`, "rule images.registries (line 3)", "registry quay.io is not one of"}},
		{"not allowed", oneTask("", imageTask("docker.io/library/busybox:1")),
			[]string{`image "docker.io/library/busybox:1"`, "rule images.allow (line 4)"}},
		{"denied", oneTask("", imageTask("testbed.local/banned/miner")),
			[]string{`image "testbed.local/banned/miner"`, "rule images.deny[0] (line 9)", `deny pattern "testbed.local/banned/**"`}},
		{"unsigned", oneTask("", imageTask(reg.Host()+"/acme/unsigned:v1")),
			[]string{reg.Host() + "/acme/unsigned:v1", "images.signatures[0] (line 11)", "acme release key", "has no signature"}},
		{"signed by a stranger", oneTask("", imageTask(reg.Host()+"/acme/stranger:v1")),
			[]string{reg.Host() + "/acme/stranger:v1", "is a valid signature"}},
		{"unknown plugin", oneTask("", "        plugin: keptn-contrib/nope\n"),
			[]string{"actions[0].tasks[0].plugin", `unknown plugin "keptn-contrib/nope"`}},
		{"undeclared plugin key", oneTask("", "        plugin: keptn-contrib/locust-test-job\n        with: {LOCUST_TEST: a.py, RPS: 5}\n"),
			[]string{`with["RPS"]`, "takes no parameter RPS"}},
		{"missing plugin key", oneTask("", "        plugin: keptn-contrib/locust-test-job\n        with: {USERS: 5}\n"),
			[]string{"requires LOCUST_TEST"}},
		{"plugin key of the wrong type", oneTask("", "        plugin: keptn-contrib/locust-test-job\n        with: [LOCUST_TEST=a.py, USERS=many]\n"),
			[]string{`with["USERS"]`, "must be an integer"}},
		{"namespace", oneTask("    namespace: kube-system\n", imageTask("alpine:3.20")),
			[]string{`namespace "kube-system" is refused`, "rule namespaces"}},
		{"service account", oneTask("    serviceAccount: cluster-admin\n", imageTask("alpine:3.20")),
			[]string{`service account "cluster-admin" is refused`}},
		{"Secret without the opt-in label", oneTask("", imageTask("alpine:3.20", "env:", "  - {name: not-opted-in, valueFrom: secret}")),
			[]string{`Secret "not-opted-in"`, "lacks the label " + optInLabel + "=true", "secrets.requireLabel"}},
		{"added capability", oneTask("", imageTask("alpine:3.20", "securityContext: {capabilities: {add: [SYS_ADMIN]}}")),
			[]string{`adding capability "SYS_ADMIN" is refused`}},
		{"resources over the ceiling", oneTask("", imageTask("alpine:3.20", "resources: {limits: {cpu: 2}}")),
			[]string{"resources.limits.cpu", "above the operator's ceiling 500m"}},
		{"workspace over the ceiling", oneTask("    workspaceSize: 100Mi\n", imageTask("alpine:3.20")),
			[]string{"workspaceSize", "over the operator's ceiling 50Mi"}},
		{"too many tasks", "apiVersion: v2\nactions:\n  - name: run\n    events:\n      - name: sh.keptn.event.test.triggered\n    tasks:\n" +
			strings.Repeat("      - {name: x, image: \"alpine:3.20\"}\n", 4),
			[]string{"too many tasks (4, at most 3)"}},
	}
	for i, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			service := fmt.Sprintf("refused-%d", i)
			e.commit(map[string]string{serviceResource("e2e-project", "e2e", service, "job/config.yaml"): tt.config})
			e.expectRefused(t, fn.url, newTriggered("test", serviceScope(service), ""), tt.want...)
		})
	}

	t.Run("event over the size limit", func(t *testing.T) {
		e.commit(map[string]string{serviceResource("e2e-project", "e2e", "big", "job/config.yaml"): oneTask("", imageTask("alpine:3.20"))})
		data := serviceScope("big")
		data["blob"] = strings.Repeat("x", 5000)
		e.expectRefused(t, fn.url, newTriggered("test", data, ""), "rule limits.eventBytes", "allows at most 4096")
	})

	t.Run("allowed image gets the policy's resource defaults", func(t *testing.T) {
		e.commit(map[string]string{serviceResource("e2e-project", "e2e", "allowed", "job/config.yaml"): oneTask("", imageTask("alpine:3.20"))})
		job := e.expectJob(t, fn.url, newTriggered("test", serviceScope("allowed"), ""))
		c := job.Spec.Template.Spec.Containers[0]
		assert.Equal(t, "alpine:3.20", c.Image)
		assert.Equal(t, "100m", c.Resources.Limits.Cpu().String())
		assert.Equal(t, "16Mi", c.Resources.Requests.Memory().String())
	})

	t.Run("signed image runs pinned to the verified digest", func(t *testing.T) {
		e.commit(map[string]string{serviceResource("e2e-project", "e2e", "signed", "job/config.yaml"): oneTask("", imageTask(reg.Host()+"/acme/tool:v1"))})
		job := e.expectJob(t, fn.url, newTriggered("test", serviceScope("signed"), ""))
		assert.Equal(t, signed.String(), job.Spec.Template.Spec.Containers[0].Image)

		// The tag moves to unsigned bytes after the check: the Job keeps
		// the verified digest, and the next event is refused.
		moved := reg.Push("acme/tool", "v1")
		again, err := e.kube.BatchV1().Jobs(job.Namespace).Get(context.Background(), job.Name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, signed.String(), again.Spec.Template.Spec.Containers[0].Image)
		e.expectRefused(t, fn.url, newTriggered("test", serviceScope("signed"), ""), moved.DigestStr(), "has no signature")
	})

	t.Run("other namespace when allowed", func(t *testing.T) {
		e.commit(map[string]string{serviceResource("e2e-project", "e2e", "otherns", "job/config.yaml"): oneTask("    namespace: "+otherNS+"\n", imageTask("alpine:3.20"))})
		job := e.expectJob(t, fn.url, newTriggered("test", serviceScope("otherns"), ""))
		assert.Equal(t, otherNS, job.Namespace)
	})

	t.Run("Secret with the opt-in label", func(t *testing.T) {
		e.commit(map[string]string{serviceResource("e2e-project", "e2e", "secret", "job/config.yaml"): oneTask("", imageTask("alpine:3.20",
			"env:", "  - {name: opted-in, valueFrom: secret}", "  - {name: TOKEN, valueFrom: {secretKeyRef: {name: opted-in, key: token}}}"))})
		job := e.expectJob(t, fn.url, newTriggered("test", serviceScope("secret"), ""))
		c := job.Spec.Template.Spec.Containers[0]
		require.Len(t, c.EnvFrom, 1)
		assert.Equal(t, "opted-in", c.EnvFrom[0].SecretRef.Name)
	})

	t.Run("plugin task renders and runs", func(t *testing.T) {
		e.startWatch(fn)
		e.commit(map[string]string{serviceResource("e2e-project", "e2e", "plugin", "job/config.yaml"): string(locust)})
		ce := newTriggered("test", serviceScope("plugin"), "")
		job := e.expectJob(t, fn.url, ce)
		c := job.Spec.Template.Spec.Containers[0]
		assert.Equal(t, "ghcr.io/keptn-contrib/locust@"+pluginDigest, c.Image)
		assert.Equal(t, []string{"locust"}, c.Command)
		assert.Equal(t, []string{"--locustfile", "/keptn/$(LOCUST_TEST)", "--headless"}, c.Args)
		env := map[string]string{}
		for _, v := range c.Env {
			env[v.Name] = v.Value
		}
		assert.Equal(t, "locust/basic.py", env["LOCUST_TEST"])
		assert.Equal(t, "10", env["LOCUST_USERS"])
		assert.Contains(t, job.Spec.Template.Spec.InitContainers[0].Args, "locust/basic.py", "the task's files are fetched")

		fin := e.waitFinished(ce.ID(), "test", reportWithin)
		assert.Equal(t, "succeeded", fin.Data["status"])
		assert.Equal(t, "pass", fin.Data["result"])
	})
}

func TestPolicyPluginsOnly(t *testing.T) {
	e := newEnv(t)
	e.withPolicy(`apiVersion: v1
pluginsOnly: true
plugins:
  keptn-contrib/locust-test-job:
    image: ghcr.io/keptn-contrib/locust@` + pluginDigest + `
    command: [locust]
    with:
      LOCUST_TEST: {required: true}
`)
	fn := e.startFunction("replica-0")
	locust, err := os.ReadFile(seedLocust)
	require.NoError(t, err)
	e.commit(map[string]string{
		serviceResource("e2e-project", "e2e", "image", "job/config.yaml"):  oneTask("", imageTask("alpine:3.20")),
		serviceResource("e2e-project", "e2e", "plugin", "job/config.yaml"): string(locust),
		serviceResource("e2e-project", "e2e", "env", "job/config.yaml"): oneTask("",
			"        plugin: keptn-contrib/locust-test-job\n        with: {LOCUST_TEST: a.py}\n        env: [{name: LD_PRELOAD, value: /keptn/x.so}]\n"),
	})
	e.expectRefused(t, fn.url, newTriggered("test", serviceScope("image"), ""), `image "alpine:3.20" is refused`, "rule pluginsOnly", "only plugin tasks may run")
	e.expectRefused(t, fn.url, newTriggered("test", serviceScope("env"), ""), "takes no env of the task's own")
	job := e.expectJob(t, fn.url, newTriggered("test", serviceScope("plugin"), ""))
	assert.Equal(t, "ghcr.io/keptn-contrib/locust@"+pluginDigest, job.Spec.Template.Spec.Containers[0].Image)
}

// A registry that cannot be reached says nothing about the image: the
// action is not refused, the Broker retries, and Keptn has the action's
// .started from the first delivery (a placeholder Job holds it). Once the
// event is RETRY_WINDOW old the retry gives the action up with an errored
// .finished naming the cause (TestKeptnStartedPromptly has the registry
// come back).
func TestPolicyRegistryUnreachableIsRetried(t *testing.T) {
	e := newEnv(t, withFunctionEnv("RETRY_WINDOW", "2s"))
	reg := policytest.NewRegistry(t)
	key := policytest.NewKey(t)
	d := reg.Push("acme/tool", "v1")
	reg.Sign(d, key, "")
	e.withPolicy(fmt.Sprintf("apiVersion: v1\nimages:\n  signatures:\n    - images: [%s/acme/**]\n      keys:\n        - |\n%s", reg.Host(), pemBlock(key, "          ")))
	fn := e.startFunction("replica-0")
	e.commit(map[string]string{serviceResource("e2e-project", "e2e", "svc", "job/config.yaml"): oneTask("", imageTask(reg.Host()+"/acme/tool:v1"))})
	reg.Close()

	ce := newTriggered("test", serviceScope("svc"), "")
	p := routeOf(t, fn.url).publish(t, ce)
	attempts := p.attempts()
	require.NotEmpty(t, attempts)
	assert.GreaterOrEqual(t, attempts[0], 500, "the broker must redeliver")
	assert.Equal(t, http.StatusAccepted, p.status(), "the retry past RETRY_WINDOW gives up")
	require.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.started"), 1, "from the first delivery")
	finished := e.eventsFor(ce.ID(), "sh.keptn.event.test.finished")
	require.Len(t, finished, 1)
	assert.Equal(t, "errored", finished[0].Data["status"])
	assert.Contains(t, finished[0].Data["message"], "temporarily unavailable", "not refused: nothing is known about the image")
	assert.Contains(t, finished[0].Data["message"], "RETRY_WINDOW")
}

// Every Job the function creates under a policy's options (plugins,
// NET_BIND_SERVICE, Secret env, resource defaults) passes Pod Security
// "restricted": the namespace enforces it, so the Job controller could not
// create the pods otherwise, and a dry-run of each pod template says so
// directly.
func TestPolicyJobsPassRestrictedPodSecurity(t *testing.T) {
	e := newEnv(t)
	e.ns = restrictedNamespace(t)
	e.prepareNamespace(e.ns)
	e.createSecret(e.ns, "opted-in", map[string]string{optInLabel: "true"})
	e.withPolicy(`apiVersion: v1
plugins:
  keptn-contrib/locust-test-job:
    image: ghcr.io/keptn-contrib/locust@` + pluginDigest + `
    command: [locust]
    with:
      LOCUST_TEST: {required: true}
secrets:
  requireLabel: ` + optInLabel + `
pods:
  allowNetBindService: true
resources:
  defaults:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 64Mi}
  max: {cpu: "1", memory: 512Mi}
`)
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	locust, err := os.ReadFile(seedLocust)
	require.NoError(t, err)
	configs := map[string]string{
		"plugin": string(locust),
		"options": oneTask("", imageTask("alpine:3.20",
			"securityContext: {capabilities: {add: [NET_BIND_SERVICE]}, runAsUser: 2000}",
			"resources: {limits: {memory: 128Mi}}",
			"env: [{name: opted-in, valueFrom: secret}]")),
	}
	for service, cfg := range configs {
		t.Run(service, func(t *testing.T) {
			e.commit(map[string]string{serviceResource("e2e-project", "e2e", service, "job/config.yaml"): cfg})
			ce := newTriggered("test", serviceScope(service), "")
			job := e.expectJob(t, fn.url, ce)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "psa-", Namespace: e.ns}, Spec: job.Spec.Template.Spec}
			_, err := e.kube.CoreV1().Pods(e.ns).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			require.NoError(t, err, "the pod template passes Pod Security Admission restricted")
			fin := e.waitFinished(ce.ID(), "test", reportWithin)
			assert.Equal(t, "succeeded", fin.Data["status"], "the Job controller could create and run the pod: %v", fin.Data["message"])
		})
	}
}

func TestPolicyInvalidStopsTheStart(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte("apiVersion: v1\nimages:\n  allow: [docker.io/*]\n"), 0o600))
	err := function.New().Start(context.Background(), map[string]string{
		"KUBECONFIG":         e.bed.KubeconfigPath(),
		"JOB_NAMESPACE":      e.ns,
		"KEPTN_API_URL":      e.keptn.APIURL(),
		"KEPTN_RESOURCE_URL": e.keptn.ResourceServiceURL(),
		"POLICY_FILE":        path,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+":3:")
	assert.Contains(t, err.Error(), "images.allow[0]")
	assert.Contains(t, err.Error(), "matches no image")
}

func TestPolicyRequireDigest(t *testing.T) {
	e := newEnv(t)
	e.withPolicy("apiVersion: v1\nimages:\n  requireDigest: true\n")
	fn := e.startFunction("replica-0")
	e.commit(map[string]string{
		serviceResource("e2e-project", "e2e", "tag", "job/config.yaml"):    oneTask("", imageTask("alpine:3.20")),
		serviceResource("e2e-project", "e2e", "digest", "job/config.yaml"): oneTask("", imageTask("alpine@"+pluginDigest)),
	})
	e.expectRefused(t, fn.url, newTriggered("test", serviceScope("tag"), ""), `image "alpine:3.20"`, "rule images.requireDigest (line 3)", "pinned by digest")
	job := e.expectJob(t, fn.url, newTriggered("test", serviceScope("digest"), ""))
	assert.Equal(t, "alpine@"+pluginDigest, job.Spec.Template.Spec.Containers[0].Image)
}
