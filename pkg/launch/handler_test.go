package launch

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/claim/claimtest"
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"

	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

// recorder is a sink that keeps what it was sent, or fails.
type recorder struct {
	mu   sync.Mutex
	sent []event.Event
	err  error
}

func (r *recorder) Send(_ context.Context, ev event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.sent = append(r.sent, ev)
	return nil
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.sent {
		out = append(out, ev.Type())
	}
	return out
}

// failing is a resource source that is down.
type failing struct{}

func (failing) GetResource(context.Context, resources.Scope, string, string) (*resources.Resource, error) {
	return nil, &resources.RetryableError{Err: errors.New("connection refused")}
}

type handlerOption func(*Handler)

func withResources(g resources.ResourceGetter) handlerOption {
	return func(h *Handler) { h.Configs = &Configs{Resources: g} }
}

func newHandler(t *testing.T, config string, rec *recorder, opts ...handlerOption) (*Handler, *fake.Clientset) {
	t.Helper()
	root := t.TempDir()
	if config != "" {
		p := filepath.Join(root, "project/p/stage/s/service/v/resource/job/config.yaml")
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(config), 0o644))
	}
	dir, err := resources.NewDirSource(root)
	require.NoError(t, err)
	kube := claimtest.NewClientset()
	s := jobs.DefaultSettings()
	s.Namespace = "ns"
	h := &Handler{
		Configs:  &Configs{Resources: dir},
		Jobs:     func(ns string) JobClient { return kube.BatchV1().Jobs(ns) },
		Settings: s,
		Responses: &reporter.Sender{
			Jobs:     func(ns string) claim.JobClient { return kube.BatchV1().Jobs(ns) },
			Sink:     rec,
			Source:   "job-executor-knative",
			Holder:   "replica",
			ClaimTTL: time.Minute,
		},
		Sink:     rec,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		BusyWait: 200 * time.Millisecond,
	}
	for _, o := range opts {
		o(h)
	}
	return h, kube
}

func triggered(t *testing.T, typ string) *keptn.TaskEvent {
	ce := event.New()
	ce.SetID("id-1")
	ce.SetSource("shipyard-controller")
	ce.SetType(typ)
	ce.SetExtension(keptn.ExtContext, "ctx")
	_ = ce.SetData(event.ApplicationJSON, map[string]string{"project": "p", "stage": "s", "service": "v"})
	ev, err := keptn.ParseTaskEvent(ce)
	require.NoError(t, err)
	return ev
}

const hello = `apiVersion: v2
actions:
  - name: hello
    events:
      - name: sh.keptn.event.deployment.triggered
    tasks:
      - name: greet
        image: alpine
`

func TestHandleCreatesJobAndSendsStartedOnce(t *testing.T) {
	rec := &recorder{}
	h, kube := newHandler(t, hello, rec)
	ev := triggered(t, "sh.keptn.event.deployment.triggered")
	out, err := h.Handle(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, Outcome{Matched: 1, Created: 1}, out)

	out, err = h.Handle(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, Outcome{Matched: 1, Existing: 1}, out, "a redelivery creates nothing")
	assert.Equal(t, []string{"sh.keptn.event.deployment.started"}, rec.types())

	list, err := kube.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	assert.NotEmpty(t, list.Items[0].Annotations[jobs.AnnotationStarted])
	assert.NotContains(t, list.Items[0].Annotations, jobs.AnnotationStartClaim, "the claim is dropped once sent")
}

func TestHandleNothingToDo(t *testing.T) {
	for name, tc := range map[string]struct{ config, typ string }{
		"no config":       {"", "sh.keptn.event.deployment.triggered"},
		"no match":        {hello, "sh.keptn.event.test.triggered"},
		"not a triggered": {hello, "sh.keptn.event.deployment.finished"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			h, kube := newHandler(t, tc.config, rec)
			out, err := h.Handle(context.Background(), triggered(t, tc.typ))
			require.NoError(t, err)
			assert.Zero(t, out.Created)
			assert.Empty(t, rec.types())
			list, _ := kube.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
			assert.Empty(t, list.Items)
		})
	}
}

func TestHandleKeptnUnreachableIsRetryable(t *testing.T) {
	h, _ := newHandler(t, hello, &recorder{}, withResources(failing{}))
	_, err := h.Handle(context.Background(), triggered(t, "sh.keptn.event.deployment.triggered"))
	require.Error(t, err)
	assert.False(t, permanent.Is(err))
}

func TestHandleSendFailureIsRetryableAndTheRetryCompletes(t *testing.T) {
	rec := &recorder{err: &sink.SendError{Err: errors.New("503")}}
	h, _ := newHandler(t, hello, rec)
	ev := triggered(t, "sh.keptn.event.deployment.triggered")
	_, err := h.Handle(context.Background(), ev)
	require.Error(t, err)
	assert.False(t, permanent.Is(err))

	rec.mu.Lock()
	rec.err = nil
	rec.mu.Unlock()
	out, err := h.Handle(context.Background(), ev)
	require.NoError(t, err, "the released claim lets the redelivery send")
	assert.Equal(t, 1, out.Existing)
	assert.Equal(t, []string{"sh.keptn.event.deployment.started"}, rec.types())
}

func TestHandleInvalidConfigFailsMatchingActionOnce(t *testing.T) {
	rec := &recorder{}
	h, _ := newHandler(t, hello+"        imagePullPolicy: Sometimes\n", rec)
	ev := triggered(t, "sh.keptn.event.deployment.triggered")
	for range 2 {
		out, err := h.Handle(context.Background(), ev)
		require.NoError(t, err)
		assert.Equal(t, 1, out.Invalid)
	}
	assert.Equal(t, []string{
		keptn.LogErrorType, "sh.keptn.event.deployment.started", "sh.keptn.event.deployment.finished",
		keptn.LogErrorType,
	}, rec.types(), "one .started and one .finished; the log.error repeats with the same id")
}

// TestOwedOverridesAPermanentCause: Keptn's refusal is final for that
// request, not for the event, which still owes a response.
func TestOwedOverridesAPermanentCause(t *testing.T) {
	refused := permanent.New(errors.New("HTTP 400 from Keptn"))
	assert.True(t, permanent.Is(refused))
	assert.False(t, permanent.Is(owed(refused)))
	assert.Equal(t, refused.Error(), owed(refused).Error(), "reads as its cause")
	assert.ErrorIs(t, owed(refused), errOwed)
	assert.False(t, permanent.Is(errors.Join(nil, errors.New("x"), owed(errors.New("y")))))
	assert.NoError(t, owed(nil))
}

// TestHandleWithoutPolicyStillAppliesIt: a Handler given no Policy applies
// policy.Default, not a plain jobs.Build. A Secret a task reads must carry
// the opt-in label; without a Secret reader that cannot be checked, so the
// action waits (a placeholder Job) instead of running with the Secret.
func TestHandleWithoutPolicyStillAppliesIt(t *testing.T) {
	rec := &recorder{}
	h, kube := newHandler(t, hello+"        env:\n          - {name: api-credentials, valueFrom: secret}\n", rec)
	require.Nil(t, h.Policy)
	_, err := h.Handle(context.Background(), triggered(t, "sh.keptn.event.deployment.triggered"))
	require.Error(t, err)
	assert.False(t, permanent.Is(err), "the action waits for the check: %v", err)
	list, err := kube.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, job := range list.Items {
		assert.NotEmpty(t, job.Annotations[jobs.AnnotationWaiting], "only a placeholder exists, never the Job reading the Secret")
		for _, c := range job.Spec.Template.Spec.Containers {
			assert.Empty(t, c.EnvFrom)
		}
	}
}
