package claim

import (
	"context"
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
}

func newStore() *store {
	return &store{job: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns", ResourceVersion: "1"}}, rv: 1}
}

func (s *store) Get(_ context.Context, _ string, _ metav1.GetOptions) (*batchv1.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.job.DeepCopy(), nil
}

func (s *store) Update(_ context.Context, j *batchv1.Job, _ metav1.UpdateOptions) (*batchv1.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
