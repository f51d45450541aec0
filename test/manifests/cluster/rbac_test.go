package cluster

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// rbacWorld is the shipped RBAC applied to fresh namespaces on the bed.
type rbacWorld struct {
	admin                kubernetes.Interface
	fnNS, jobNS, otherNS string
	fn                   kubernetes.Interface // authenticated as the function's ServiceAccount
}

func newRBACWorld(t *testing.T) *rbacWorld {
	bed := testbed.Get(t)
	w := &rbacWorld{admin: bed.Client(), fnNS: testbed.Namespace(t), jobNS: testbed.Namespace(t, testbed.Restricted()), otherNS: testbed.Namespace(t)}
	objs, err := manifests.RBACFor(w.fnNS, w.jobNS)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := bed.ApplyObjects(ctx, "", objs...); err != nil {
		t.Fatal(err)
	}
	cfg, err := manifests.ServiceAccountConfig(ctx, bed.RESTConfig(), w.fnNS, manifests.FunctionServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	if w.fn, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return w
}

// can asks the API server's authorizer (SubjectAccessReview) whether the
// ServiceAccount ns/name may do verb on group/resource[/sub] in namespace.
func (w *rbacWorld) can(t *testing.T, saNS, sa, verb, group, resource, sub, namespace string) bool {
	t.Helper()
	return w.canNamed(t, saNS, sa, verb, group, resource, sub, namespace, "")
}

// canNamed is can for the object called name.
func (w *rbacWorld) canNamed(t *testing.T, saNS, sa, verb, group, resource, sub, namespace, name string) bool {
	t.Helper()
	r, err := w.admin.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:" + saNS + ":" + sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + saNS, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: group, Resource: resource, Subresource: sub, Name: name,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status.Allowed
}

func TestRBACByAuthorizer(t *testing.T) {
	w := newRBACWorld(t)
	fn, src, job := manifests.FunctionServiceAccount, "job-executor-sources", "keptn-job"
	for _, tc := range []struct {
		saNS, sa, verb, group, resource, sub, ns string
		allowed                                  bool
	}{
		// What the function needs, in the job namespace.
		{w.fnNS, fn, "create", "batch", "jobs", "", w.jobNS, true},
		{w.fnNS, fn, "get", "batch", "jobs", "", w.jobNS, true},
		{w.fnNS, fn, "list", "batch", "jobs", "", w.jobNS, true},
		{w.fnNS, fn, "watch", "batch", "jobs", "", w.jobNS, true},
		{w.fnNS, fn, "update", "batch", "jobs", "", w.jobNS, true},
		{w.fnNS, fn, "patch", "batch", "jobs", "", w.jobNS, true},
		{w.fnNS, fn, "delete", "batch", "jobs", "", w.jobNS, true},
		{w.fnNS, fn, "get", "", "pods", "", w.jobNS, true},
		{w.fnNS, fn, "list", "", "pods", "", w.jobNS, true},
		{w.fnNS, fn, "get", "", "pods", "log", w.jobNS, true},
		{w.fnNS, fn, "create", "", "events", "", w.jobNS, true},
		// Nothing elsewhere, nothing more.
		{w.fnNS, fn, "create", "batch", "jobs", "", w.fnNS, false},
		{w.fnNS, fn, "create", "batch", "jobs", "", w.otherNS, false},
		{w.fnNS, fn, "list", "batch", "jobs", "", "", false},
		// get on Secrets in the job namespace only, to read the opt-in
		// label (a metadata-only request); never list, never elsewhere.
		{w.fnNS, fn, "get", "", "secrets", "", w.jobNS, true},
		{w.fnNS, fn, "list", "", "secrets", "", w.jobNS, false},
		{w.fnNS, fn, "watch", "", "secrets", "", w.jobNS, false},
		{w.fnNS, fn, "list", "", "secrets", "", "", false},
		{w.fnNS, fn, "get", "", "secrets", "", w.fnNS, false},
		{w.fnNS, fn, "create", "", "pods", "", w.jobNS, false},
		{w.fnNS, fn, "delete", "", "pods", "", w.jobNS, false},
		{w.fnNS, fn, "create", "", "pods", "exec", w.jobNS, false},
		{w.fnNS, fn, "create", "batch", "cronjobs", "", w.jobNS, false},
		{w.fnNS, fn, "create", "rbac.authorization.k8s.io", "rolebindings", "", w.jobNS, false},
		{w.fnNS, fn, "create", "", "serviceaccounts", "token", w.jobNS, false},
		// The ApiServerSource's adapter reads Jobs and nothing else.
		{w.fnNS, src, "watch", "batch", "jobs", "", w.jobNS, true},
		{w.fnNS, src, "list", "batch", "jobs", "", w.jobNS, true},
		{w.fnNS, src, "create", "batch", "jobs", "", w.jobNS, false},
		{w.fnNS, src, "watch", "batch", "jobs", "", w.otherNS, false},
		// Task pods' account may do nothing.
		{w.jobNS, job, "get", "batch", "jobs", "", w.jobNS, false},
		{w.jobNS, job, "get", "", "secrets", "", w.jobNS, false},
	} {
		if got := w.can(t, tc.saNS, tc.sa, tc.verb, tc.group, tc.resource, tc.sub, tc.ns); got != tc.allowed {
			t.Errorf("%s %s %s/%s/%s in %q: allowed=%v, want %v", tc.sa, tc.verb, tc.group, tc.resource, tc.sub, tc.ns, got, tc.allowed)
		}
	}
	// Scale to zero: the function switches its own PingSource's schedule,
	// that one only, and can neither make nor remove one.
	const sweep, ps = "job-executor-sweep", "pingsources"
	for _, tc := range []struct {
		sa, verb, ns, name string
		allowed            bool
	}{
		{fn, "get", w.fnNS, sweep, true},
		{fn, "update", w.fnNS, sweep, true},
		{fn, "update", w.fnNS, "another", false},
		{fn, "update", w.fnNS, "", false},
		{fn, "list", w.fnNS, "", false},
		{fn, "create", w.fnNS, "", false},
		{fn, "delete", w.fnNS, sweep, false},
		{fn, "patch", w.fnNS, sweep, false},
		{fn, "update", w.jobNS, sweep, false},
		{src, "update", w.fnNS, sweep, false},
	} {
		if got := w.canNamed(t, w.fnNS, tc.sa, tc.verb, "sources.knative.dev", ps, "", tc.ns, tc.name); got != tc.allowed {
			t.Errorf("%s %s %s %q in %q: allowed=%v, want %v", tc.sa, tc.verb, ps, tc.name, tc.ns, got, tc.allowed)
		}
	}
}

// The same, by doing it with the function's own token: a Job's whole life
// in the job namespace works, and the API server refuses the rest.
func TestFunctionTokenActsOnlyOnJobs(t *testing.T) {
	w := newRBACWorld(t)
	ctx := context.Background()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac-probe", Labels: map[string]string{"app.kubernetes.io/managed-by": "keptn-job-executor"}},
		Spec: batchv1.JobSpec{
			// Suspended: the point is the API call, not a pod.
			Suspend: ptr(true),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:                corev1.RestartPolicyNever,
				ServiceAccountName:           "keptn-job",
				AutomountServiceAccountToken: ptr(false),
				Containers: []corev1.Container{{Name: "t", Image: "busybox", SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr(false), RunAsNonRoot: ptr(true),
					Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				}}},
			}},
		},
	}
	jobs := w.fn.BatchV1().Jobs(w.jobNS)
	created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Job in the job namespace: %v", err)
	}
	// The job controller writes the Job too, so update as the function
	// does: read, change, write, again on conflict.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := jobs.Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Annotations = map[string]string{"jobs.keptn.sh/reported": "now"}
		_, err = jobs.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Errorf("get and update: %v", err)
	}
	if _, err := jobs.Patch(ctx, created.Name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"jobs.keptn.sh/started":"now"}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("patch: %v", err)
	}
	if _, err := jobs.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=keptn-job-executor"}); err != nil {
		t.Errorf("list: %v", err)
	}
	if _, err := w.fn.CoreV1().Pods(w.jobNS).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list pods: %v", err)
	}
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: "rbac-probe-"}, InvolvedObject: corev1.ObjectReference{Kind: "Job", Namespace: w.jobNS, Name: job.Name},
		Reason: "Probe", Message: "rbac", Type: corev1.EventTypeNormal}
	if _, err := w.fn.CoreV1().Events(w.jobNS).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Errorf("create event: %v", err)
	}
	bg := metav1.DeletePropagationBackground
	if err := jobs.Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Errorf("delete: %v", err)
	}

	forbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
	_, err = w.fn.BatchV1().Jobs(w.otherNS).Create(ctx, job, metav1.CreateOptions{})
	forbidden("create Job in another namespace", err)
	_, err = w.fn.BatchV1().Jobs(w.fnNS).Create(ctx, job, metav1.CreateOptions{})
	forbidden("create Job in its own namespace", err)
	_, err = w.fn.CoreV1().Secrets(w.jobNS).List(ctx, metav1.ListOptions{})
	forbidden("list Secrets in the job namespace", err)
	_, err = w.fn.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	forbidden("list Namespaces", err)
	_, err = w.fn.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
	forbidden("list Jobs cluster-wide", err)
}
