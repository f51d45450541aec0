package reporter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
)

// logStore serves logs by "pod/container" like the kubelet: LimitBytes
// cuts the stream, TailLines starts it that many lines from the end.
type logStore struct {
	mu   sync.Mutex
	logs map[string]string
	// chunk, when set, is the most one Read returns.
	chunk int
	reqs  []corev1.PodLogOptions
}

func (s *logStore) Stream(_ context.Context, _, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, *opts)
	text, ok := s.logs[pod+"/"+opts.Container]
	if !ok {
		return nil, errors.New(`container "` + opts.Container + `" in pod "` + pod + `" is waiting to start`)
	}
	if opts.TailLines != nil {
		lines := strings.SplitAfter(text, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if n := int(*opts.TailLines); n < len(lines) {
			lines = lines[len(lines)-n:]
		}
		text = strings.Join(lines, "")
	}
	if opts.LimitBytes != nil && int64(len(text)) > *opts.LimitBytes {
		text = text[:*opts.LimitBytes]
	}
	return io.NopCloser(&chunked{r: strings.NewReader(text), n: s.chunk}), nil
}

type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.n > 0 && len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

func TestFetchLog(t *testing.T) {
	numbered := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(strings.Repeat("x", 9) + string(rune('a'+i%26)) + "\n")
		}
		return b.String()
	}
	long := numbered(1000) // 11000 bytes
	tests := []struct {
		name string
		log  string
		keep int
		cap  int64
		want finished.Log
	}{
		{name: "short", log: "hello\n", keep: 100, cap: 1 << 20, want: finished.Log{Head: "hello\n"}},
		{name: "between keep and twice keep is whole", log: long[:150], keep: 100, cap: 1 << 20, want: finished.Log{Head: long[:150]}},
		{name: "long keeps both ends", log: long, keep: 100, cap: 1 << 20, want: finished.Log{Head: long[:100], Tail: long[len(long)-100:], Cut: int64(len(long) - 200)}},
		{name: "longer than the read limit reads the tail apart", log: long, keep: 100, cap: 5000,
			want: finished.Log{Head: long[:100], Tail: long[len(long)-100:], Cut: 4900, AtLeast: true}},
		{name: "colours and invalid bytes are cleaned", log: "\x1b[31mred\x1b[0m \xff\n", keep: 100, cap: 1 << 20, want: finished.Log{Head: "red \uFFFD\n"}},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 7} {
			s := &logStore{logs: map[string]string{"p/c": tt.log}, chunk: chunk}
			got := FetchLog(context.Background(), s, "ns", "p", "c", tt.keep, tt.cap)
			assert.Equal(t, tt.want, got, "%s (reads of %d)", tt.name, chunk)
			assert.Equal(t, tt.cap, *s.reqs[0].LimitBytes, "the first read is bounded")
		}
	}
}

func TestFetchLogError(t *testing.T) {
	got := FetchLog(context.Background(), &logStore{}, "ns", "p", "c", 100, 1000)
	assert.Contains(t, got.Err, "is waiting to start")
}

func TestClientsetLogsStreams(t *testing.T) {
	// The fake clientset answers every log request with "fake logs".
	got := FetchLog(context.Background(), ClientsetLogs{Client: fake.NewClientset()}, "ns", "p", "c", 100, 1000)
	assert.Equal(t, finished.Log{Head: "fake logs"}, got)
}

// FuzzReadEnds: head, cut and tail always add up to the stream.
func FuzzReadEnds(f *testing.F) {
	f.Add([]byte("hello world"), uint8(3), uint8(2))
	f.Add(bytes.Repeat([]byte("ab"), 300), uint8(50), uint8(0))
	f.Add([]byte{}, uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, keep, chunk uint8) {
		if keep == 0 {
			keep = 1
		}
		s := &logStore{logs: map[string]string{"p/c": string(data)}, chunk: int(chunk)}
		limit := int64(1 << 20)
		head, tail, total, err := readEnds(context.Background(), s, "ns", "p", &corev1.PodLogOptions{Container: "c", LimitBytes: &limit}, int(keep))
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), total)
		require.True(t, strings.HasPrefix(string(data), head))
		require.True(t, strings.HasSuffix(string(data), tail))
		require.LessOrEqual(t, len(head), int(keep))
		require.LessOrEqual(t, len(tail), int(keep))
		require.Equal(t, len(data) <= 2*int(keep), len(head)+len(tail) == len(data), "short logs are kept whole")
	})
}
