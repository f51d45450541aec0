package launch

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
)

// heldPatches is a Job client whose patches (the records of .started)
// wait until release is closed. The fake clientset runs its reactors
// under its lock, so the wait is outside it.
type heldPatches struct {
	claim.JobClient
	release <-chan struct{}
}

func (c heldPatches) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) (*batchv1.Job, error) {
	<-c.release
	return c.JobClient.Patch(ctx, name, pt, data, opts, sub...)
}

func holdPatches(b *raceBed, release <-chan struct{}) {
	jobsFor := b.h.Responses.Jobs
	b.h.Responses.Jobs = func(ns string) claim.JobClient { return heldPatches{jobsFor(ns), release} }
}

func (b *raceBed) annotation(t *testing.T, key string) string {
	t.Helper()
	return b.job(t).Annotations[key]
}

// The answer goes out once .started is sent; the write that records it
// follows, and a redelivery meanwhile finds the creator's claim and sends
// nothing.
func TestTheAnswerDoesNotWaitForTheRecordOfStarted(t *testing.T) {
	ctx := context.Background()
	b := newRaceBed(t)
	b.h.Background = NewBackground(4, time.Minute)
	b.h.BusyWait = 50 * time.Millisecond
	release := make(chan struct{})
	holdPatches(b, release)

	out, err := b.h.Handle(ctx, triggered(t, "sh.keptn.event.deployment.triggered"))
	require.NoError(t, err, "answered while the record waits")
	assert.Equal(t, Outcome{Matched: 1, Created: 1}, out)
	assert.Equal(t, []string{"sh.keptn.event.deployment.started"}, b.rec.types())
	assert.Empty(t, b.annotation(t, jobs.AnnotationStarted), "not recorded yet")

	_, err = b.h.Handle(ctx, triggered(t, "sh.keptn.event.deployment.triggered"))
	assert.Error(t, err, "a redelivery before the record finds the claim held: retry later")
	assert.Len(t, b.rec.types(), 1, "and sends no second .started")

	close(release)
	require.NoError(t, b.h.Background.Wait(ctx))
	assert.NotEmpty(t, b.annotation(t, jobs.AnnotationStarted))
	assert.Empty(t, b.annotation(t, jobs.AnnotationStartClaim), "the claim is dropped")

	out, err = b.h.Handle(ctx, triggered(t, "sh.keptn.event.deployment.triggered"))
	require.NoError(t, err)
	assert.Equal(t, Outcome{Matched: 1, Existing: 1}, out)
	assert.Len(t, b.rec.types(), 1)
}

// Past its limit the background takes no more: the answer waits for the
// record, so a slow API server slows the answers instead of piling work up.
func TestAFullBackgroundRecordsBeforeTheAnswer(t *testing.T) {
	ctx := context.Background()
	b := newRaceBed(t)
	b.h.Background = NewBackground(1, time.Minute)
	hold := make(chan struct{})
	require.True(t, b.h.Background.Go(ctx, func(context.Context) { <-hold }))
	defer close(hold)

	_, err := b.h.Handle(ctx, triggered(t, "sh.keptn.event.deployment.triggered"))
	require.NoError(t, err)
	assert.NotEmpty(t, b.annotation(t, jobs.AnnotationStarted), "recorded before the answer")
}

// A record that fails after the answer is written again; one that fails
// before it is the broker's to retry (5xx), as it always was.
func TestARecordThatFailsIsWrittenAgain(t *testing.T) {
	unavailable := apierrors.NewServiceUnavailable("etcd is slow")
	t.Run("after the answer", func(t *testing.T) {
		ctx := context.Background()
		b := newRaceBed(t)
		b.h.Background = NewBackground(4, time.Minute)
		var fails atomic.Int32
		fails.Store(2)
		b.kube.PrependReactor("patch", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			if fails.Add(-1) >= 0 {
				return true, nil, unavailable
			}
			return false, nil, nil
		})
		_, err := b.h.Handle(ctx, triggered(t, "sh.keptn.event.deployment.triggered"))
		require.NoError(t, err)
		require.NoError(t, b.h.Background.Wait(ctx))
		assert.NotEmpty(t, b.annotation(t, jobs.AnnotationStarted), "written at the third attempt")
		assert.Equal(t, 3, b.calls()["patch jobs"])
	})
	t.Run("a Job that is gone is not written again", func(t *testing.T) {
		ctx := context.Background()
		b := newRaceBed(t)
		b.h.Background = NewBackground(4, time.Minute)
		b.kube.PrependReactor("patch", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "batch", Resource: "jobs"}, "x")
		})
		_, err := b.h.Handle(ctx, triggered(t, "sh.keptn.event.deployment.triggered"))
		require.NoError(t, err)
		require.NoError(t, b.h.Background.Wait(ctx))
		assert.Equal(t, 1, b.calls()["patch jobs"])
	})
	t.Run("before the answer", func(t *testing.T) {
		ctx := context.Background()
		b := newRaceBed(t)
		b.kube.PrependReactor("patch", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, unavailable
		})
		_, err := b.h.Handle(ctx, triggered(t, "sh.keptn.event.deployment.triggered"))
		require.Error(t, err)
		assert.False(t, permanent.Is(err), "5xx: the broker retries")
		assert.Contains(t, err.Error(), "sent, but recording it failed")
		assert.Len(t, b.rec.types(), 1)
	})
}

func TestBackgroundWaitStopsTakingWork(t *testing.T) {
	ctx := context.Background()
	bg := NewBackground(2, time.Minute)
	var ran atomic.Bool
	release := make(chan struct{})
	require.True(t, bg.Go(ctx, func(context.Context) { <-release; ran.Store(true) }))

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, bg.Wait(short), context.DeadlineExceeded, "the work still runs")
	assert.False(t, bg.Go(ctx, func(context.Context) {}), "no new work once stopping")

	close(release)
	require.NoError(t, bg.Wait(ctx))
	assert.True(t, ran.Load())
	var none *Background
	assert.False(t, none.Go(ctx, func(context.Context) {}))
	assert.NoError(t, none.Wait(ctx))
}

// The background's work outlives the request that started it, but not the
// claim it writes under.
func TestBackgroundWorkOutlivesItsRequest(t *testing.T) {
	bg := NewBackground(1, time.Hour)
	req, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	require.True(t, bg.Go(req, func(ctx context.Context) {
		cancel()
		time.Sleep(10 * time.Millisecond)
		deadline, ok := ctx.Deadline()
		if !ok || time.Until(deadline) < 59*time.Minute {
			got <- errors.New("no deadline from the timeout")
			return
		}
		got <- ctx.Err()
	}))
	assert.NoError(t, <-got, "the request's cancellation does not reach it")
	require.NoError(t, bg.Wait(context.Background()))
}
