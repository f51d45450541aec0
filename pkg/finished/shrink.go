package finished

import (
	"fmt"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
)

// MaxEventBytesFor is the .finished budget for an api-service whose
// MAX_EVENT_SIZE_KB is kb: the limit less a margin for what the sink adds
// (its clock, the envelope), 1 KiB or an eighth of a small limit.
func MaxEventBytesFor(kb int) int {
	limit := kb << 10
	return limit - min(1024, limit/8)
}

// Smaller are the ever smaller .finished events tried after Keptn
// refused one as too large (an operator lowered MAX_EVENT_SIZE_KB below our
// budget): first the logs' head and tail cut to an eighth of the budget,
// then one line naming the result and where the full logs are. The last
// always fits any limit Keptn's api-service can be given (1 KB and up), so
// a .finished never stays unsent because of its size.
func Smaller(v verdict.Verdict, logs []Log, budget int, size func(keptn.Finished) (int, error), job *batchv1.Job) []func() (keptn.Finished, error) {
	return []func() (keptn.Finished, error){
		func() (keptn.Finished, error) { return Compose(v.Finished, logs, budget/8, size) },
		func() (keptn.Finished, error) { return OneLine(v, job), nil },
	}
}

// maxSummary bounds the summary quoted in the one-line message.
const maxSummary = 200

// OneLine is the smallest .finished for v: status and result, data.test
// (lighthouse needs it), and one line naming the result and the Job and
// pod whose logs hold the rest.
func OneLine(v verdict.Verdict, job *batchv1.Job) keptn.Finished {
	f := v.Finished
	summary := v.Summary
	if len(summary) > maxSummary {
		summary = summary[:maxSummary]
		for !utf8.ValidString(summary) {
			summary = summary[:len(summary)-1]
		}
		summary += "..."
	}
	where := "Job " + job.Namespace + "/" + job.Name
	if v.Pod != "" {
		where += ", pod " + v.Pod
	}
	f.Message = fmt.Sprintf("%s (%s): %s Details and logs did not fit Keptn's event size limit; see %s.", f.Result, f.Status, summary, where)
	var extra map[string]any
	if t, ok := f.Extra["test"]; ok {
		extra = map[string]any{"test": t}
	}
	f.Extra = extra
	return f
}
