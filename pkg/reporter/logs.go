package reporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
)

// LogReader streams a container's log (GET pods/log).
type LogReader interface {
	Stream(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// ClientsetLogs reads logs through client-go.
type ClientsetLogs struct{ Client Kube }

// Stream implements LogReader.
func (c ClientsetLogs) Stream(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return c.Client.CoreV1().Pods(namespace).GetLogs(pod, opts).Stream(ctx)
}

// Log reading bounds. keep is the most of each end a message can show;
// DefaultLogReadLimit bounds what is read to find the end of a long log.
const (
	DefaultLogReadLimit = 4 << 20
	tailLines           = 200
	tailReadLimit       = 1 << 20
)

// FetchLog reads container's log, keeping its first and last keep bytes. A
// log longer than readLimit is not read to its end: its last lines are read
// separately, and the count of bytes between is a lower bound.
func FetchLog(ctx context.Context, r LogReader, namespace, pod, container string, keep int, readLimit int64) finished.Log {
	head, tail, total, err := readEnds(ctx, r, namespace, pod, &corev1.PodLogOptions{Container: container, LimitBytes: &readLimit}, keep)
	if err != nil {
		return finished.Log{Err: err.Error()}
	}
	l := finished.Log{Head: head, Tail: tail, Cut: total - int64(len(head)) - int64(len(tail))}
	if l.Cut == 0 {
		l.Head, l.Tail = head+tail, ""
	}
	if total >= readLimit {
		// The limit cut the stream: its tail is not the log's end.
		lim, lines := int64(tailReadLimit), int64(tailLines)
		_, end, _, err := readEnds(ctx, r, namespace, pod, &corev1.PodLogOptions{Container: container, LimitBytes: &lim, TailLines: &lines}, keep)
		if err == nil {
			l.Tail, l.Cut, l.AtLeast = end, readLimit-int64(len(head)), true
		}
	}
	l.Head, l.Tail = clean(l.Head), clean(l.Tail)
	return l
}

// readEnds streams a log and keeps its first keep bytes and its last keep
// bytes (tail is empty when head holds it all).
func readEnds(ctx context.Context, r LogReader, namespace, pod string, opts *corev1.PodLogOptions, keep int) (head, tail string, total int64, err error) {
	rc, err := r.Stream(ctx, namespace, pod, opts)
	if err != nil {
		return "", "", 0, fmt.Errorf("reading log of %s/%s: %w", pod, opts.Container, err)
	}
	defer rc.Close()
	var h []byte
	ring := make([]byte, 0, keep)
	pos := 0 // next write position once ring is full
	buf := make([]byte, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		chunk := buf[:n]
		total += int64(n)
		if room := keep - len(h); room > 0 {
			take := min(room, len(chunk))
			h = append(h, chunk[:take]...)
			chunk = chunk[take:]
		}
		for len(chunk) > 0 {
			if len(ring) < keep {
				take := min(keep-len(ring), len(chunk))
				ring = append(ring, chunk[:take]...)
				chunk = chunk[take:]
				continue
			}
			c := copy(ring[pos:], chunk)
			chunk = chunk[c:]
			pos = (pos + c) % keep
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return "", "", total, fmt.Errorf("reading log of %s/%s: %w", pod, opts.Container, rerr)
		}
	}
	if pos > 0 {
		ring = append(append(make([]byte, 0, keep), ring[pos:]...), ring[:pos]...)
	}
	return string(h), string(ring), total, nil
}

// ansi matches terminal control sequences (colours, cursor moves): they
// make a log unreadable in Keptn's UI and cost 6 bytes each in JSON.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// clean makes log text fit for a JSON message.
func clean(s string) string {
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = ansi.ReplaceAllString(s, "")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
