package claim

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim/claimtest"
)

var keys = Keys{Claim: "c", Done: "d"}

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func TestOf(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        State
	}{
		{"nothing", nil, Free},
		{"done wins over a live claim", map[string]string{"d": "x", "c": Value("other", t0.Add(time.Minute))}, Done},
		{"ours", map[string]string{"c": Value("me", t0.Add(time.Minute))}, HeldByUs},
		{"other's live claim", map[string]string{"c": Value("other", t0.Add(time.Minute))}, HeldByOther},
		{"other's expired claim", map[string]string{"c": Value("other", t0.Add(-time.Second))}, Free},
		{"expires exactly now", map[string]string{"c": Value("other", t0)}, Free},
		{"garbage claim does not block", map[string]string{"c": "not a claim"}, Free},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Of(tt.annotations, keys, "me", t0))
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Value("pod-1", t0))
	f.Add("x ")
	f.Add(" 2026-11-27T09:00:00Z")
	f.Fuzz(func(t *testing.T, v string) {
		h, exp, ok := Parse(v)
		if ok {
			require.NotEmpty(t, h)
			h2, exp2, ok2 := Parse(Value(h, exp))
			require.True(t, ok2)
			require.Equal(t, h, h2)
			require.True(t, exp.Equal(exp2))
		}
	})
}

// store is a Job store that enforces resourceVersion like the API server
// does, so races between claimers are decided the real way.
type store struct {
	mu  sync.Mutex
	job *batchv1.Job
	rv  int
	// bump simulates another writer (the Job controller) before each update.
	bumps int
	// reads and writes count the calls that reached the store.
	reads, writes int
}

func newStore() *store {
	return &store{job: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns", UID: "uid-1", ResourceVersion: "1"}}, rv: 1}
}

func (s *store) Get(_ context.Context, _ string, _ metav1.GetOptions) (*batchv1.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.job.DeepCopy(), nil
}

func (s *store) Update(_ context.Context, j *batchv1.Job, _ metav1.UpdateOptions) (*batchv1.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.bumps > 0 {
		s.bumps--
		s.rv++
		s.job.ResourceVersion = strconv.Itoa(s.rv)
	}
	if j.ResourceVersion != s.job.ResourceVersion {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: "batch", Resource: "jobs"}, j.Name, nil)
	}
	s.rv++
	s.job = j.DeepCopy()
	s.job.ResourceVersion = strconv.Itoa(s.rv)
	return s.job.DeepCopy(), nil
}

// Patch applies a JSON merge patch to the Job as it is, as the API server
// does (claimtest.MergePatch): no resourceVersion in the patch, no
// conflict.
func (s *store) Patch(_ context.Context, _ string, pt types.PatchType, data []byte, _ metav1.PatchOptions, _ ...string) (*batchv1.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if pt != types.MergePatchType {
		return nil, fmt.Errorf("store: patch type %s", pt)
	}
	j, err := claimtest.MergePatch(s.job, data)
	if err != nil {
		return nil, err
	}
	s.rv++
	s.job = j
	s.job.ResourceVersion = strconv.Itoa(s.rv)
	return s.job.DeepCopy(), nil
}

func TestTakeExactlyOneWinner(t *testing.T) {
	s := newStore()
	job, _ := s.Get(context.Background(), "j", metav1.GetOptions{})
	var wg sync.WaitGroup
	wins := make(chan string, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := "replica-" + strconv.Itoa(i)
			_, won, err := Take(context.Background(), s, job, keys, holder, t0, time.Minute)
			assert.NoError(t, err)
			if won {
				wins <- holder
			}
		}()
	}
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	require.Len(t, winners, 1)
	h, _, _ := Parse(s.job.Annotations["c"])
	assert.Equal(t, winners[0], h)
}

func TestTakeSurvivesConflictsFromOtherWriters(t *testing.T) {
	s := newStore()
	s.bumps = 3
	job, _ := s.Get(context.Background(), "j", metav1.GetOptions{})
	_, won, err := Take(context.Background(), s, job, keys, "me", t0, time.Minute)
	require.NoError(t, err)
	assert.True(t, won)
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore()
	job, _ := s.Get(ctx, "j", metav1.GetOptions{})

	job, won, err := Take(ctx, s, job, keys, "a", t0, time.Minute)
	require.NoError(t, err)
	require.True(t, won)

	_, won, err = Take(ctx, s, job, keys, "b", t0.Add(30*time.Second), time.Minute)
	require.NoError(t, err)
	assert.False(t, won, "a live claim blocks another holder")

	job, err = Release(ctx, s, job, keys, "a")
	require.NoError(t, err)
	assert.NotContains(t, job.Annotations, "c")

	job, won, err = Take(ctx, s, job, keys, "b", t0.Add(30*time.Second), time.Minute)
	require.NoError(t, err)
	require.True(t, won, "a released claim is free at once")

	// b crashes; after expiry c takes over.
	job, won, err = Take(ctx, s, job, keys, "c", t0.Add(2*time.Minute), time.Minute)
	require.NoError(t, err)
	require.True(t, won)

	job, err = Complete(ctx, s, job, keys, t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, Done, Of(job.Annotations, keys, "c", t0))
	assert.NotContains(t, job.Annotations, "c")

	_, won, err = Take(ctx, s, job, keys, "d", t0.Add(time.Hour), time.Minute)
	require.NoError(t, err)
	assert.False(t, won, "done is final")
}

// The record of a sent event never conflicts with the Job controller: one
// write, no read, whatever was written since the caller's copy.
func TestCompleteIsOneWriteWhateverWasWrittenSince(t *testing.T) {
	ctx := context.Background()
	s := newStore()
	job, won, err := Take(ctx, s, s.job.DeepCopy(), keys, "me", t0, time.Minute)
	require.NoError(t, err)
	require.True(t, won)
	s.job.Status.Active = 1 // the Job controller writes status meanwhile
	s.job.Annotations["due"] = "t"
	s.rv++
	s.job.ResourceVersion = strconv.Itoa(s.rv)
	s.reads, s.writes = 0, 0

	j, err := Complete(ctx, s, job, keys, t0)
	require.NoError(t, err)
	assert.Equal(t, 1, s.writes)
	assert.Zero(t, s.reads)
	assert.Equal(t, t0.Format(time.RFC3339Nano), j.Annotations["d"])
	assert.NotContains(t, j.Annotations, "c", "the claim is dropped")
	assert.Equal(t, "t", j.Annotations["due"], "a mark written before the record is in the answer")
	assert.Equal(t, int32(1), j.Status.Active, "the other writer's change is kept")
}

func TestCompleteOfARecordedClaimWritesNothing(t *testing.T) {
	s := newStore()
	job := s.job.DeepCopy()
	job.Annotations = map[string]string{"d": "x"}
	j, err := Complete(context.Background(), s, job, keys, t0)
	require.NoError(t, err)
	assert.Same(t, job, j)
	assert.Zero(t, s.writes)
}

// A Job deleted and created again under the same name is another Job: its
// .started was not sent by us, and must not be recorded as sent.
func TestCompleteRefusesAJobCreatedAgainUnderTheSameName(t *testing.T) {
	s := newStore()
	job := s.job.DeepCopy()
	s.job.UID = "uid-2"
	_, err := Complete(context.Background(), s, job, keys, t0)
	require.Error(t, err)
	assert.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.NotContains(t, s.job.Annotations, "d")
}

func FuzzCompletePatch(f *testing.F) {
	f.Add("uid-1", "jobs.keptn.sh/started", "jobs.keptn.sh/start-claim")
	f.Add("", "d", "c")
	f.Fuzz(func(t *testing.T, uid, done, claimKey string) {
		if done == claimKey {
			return
		}
		data, err := completePatch(types.UID(uid), Keys{Claim: claimKey, Done: done}, t0)
		require.NoError(t, err)
		var p struct {
			Metadata struct {
				UID         string             `json:"uid"`
				Annotations map[string]*string `json:"annotations"`
			} `json:"metadata"`
		}
		require.NoError(t, json.Unmarshal(data, &p))
		assert.Equal(t, uid, p.Metadata.UID)
		require.NotNil(t, p.Metadata.Annotations[done])
		assert.Equal(t, t0.Format(time.RFC3339Nano), *p.Metadata.Annotations[done])
		v, ok := p.Metadata.Annotations[claimKey]
		assert.True(t, ok)
		assert.Nil(t, v, "the claim is removed")
	})
}
