package reporter

import (
	"context"
	"strings"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
)

// logPrefetch is a log read started beside the write that claims the
// report: the report reads the logs anyway, and neither request needs the
// other's answer, so the report waits for the slower of the two instead of
// both (docs/benchmarks.md, "Completion"). If the claim is lost the read
// is cancelled; if the verdict changes meanwhile (a condition or a stop
// record written first) the logs are read again for the new one.
type logPrefetch struct {
	key    string
	done   chan struct{}
	logs   []finished.Log
	cancel context.CancelFunc
}

// logKey names what fetchLogs reads for v: the pod and its log lines.
func logKey(v verdict.Verdict) string {
	var b strings.Builder
	b.WriteString(v.Pod)
	for _, l := range v.LogLines() {
		b.WriteString("\x00" + l.Name() + "\x00" + l.Container)
	}
	return b.String()
}

// prefetchLogs starts reading v's logs. A stop verdict reads none ahead:
// its pod is still running until the stop takes effect.
func (r *Reconciler) prefetchLogs(ctx context.Context, job *batchv1.Job, v verdict.Verdict) *logPrefetch {
	if v.Stop != "" || len(v.LogLines()) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &logPrefetch{key: logKey(v), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		p.logs = r.fetchLogs(ctx, job, v)
	}()
	return p
}

// logsFor returns the logs of v: the prefetched ones when they are v's,
// else read now.
func (r *Reconciler) logsFor(ctx context.Context, p *logPrefetch, job *batchv1.Job, v verdict.Verdict) []finished.Log {
	if p != nil && p.key == logKey(v) {
		<-p.done
		p.cancel()
		return p.logs
	}
	p.stop()
	return r.fetchLogs(ctx, job, v)
}

// stop abandons a prefetch whose claim was not ours.
func (p *logPrefetch) stop() {
	if p != nil {
		p.cancel()
		<-p.done
	}
}
