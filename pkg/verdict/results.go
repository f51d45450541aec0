package verdict

import (
	"encoding/json"
	"strings"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// MaxResultBytes is the largest termination message read as a structured
// result: what Kubernetes keeps of one container's message.
const MaxResultBytes = 4096

// ResultKey is the key of a structured result that sets the task's result.
const ResultKey = "result"

// ParseResult reads a task's termination message as a structured result: a
// JSON object of at most MaxResultBytes. result is its "result" key when
// that is pass, warning or fail (any case), else "". ok is false for
// anything else, such as the log tail FallbackToLogsOnError leaves.
func ParseResult(msg string) (obj map[string]any, result string, ok bool) {
	msg = strings.TrimSpace(msg)
	if len(msg) > MaxResultBytes || !strings.HasPrefix(msg, "{") {
		return nil, "", false
	}
	dec := json.NewDecoder(strings.NewReader(msg))
	// Numbers stay as written: an SLI value 0.1 must not come out as
	// 0.10000000000000001 in Keptn.
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, "", false
	}
	// One object and nothing after it: "{} done" is a log line, not a result.
	if dec.InputOffset() != int64(len(msg)) {
		return nil, "", false
	}
	if r, isString := obj[ResultKey].(string); isString {
		switch r = strings.ToLower(strings.TrimSpace(r)); r {
		case keptn.ResultPass, keptn.ResultWarning, keptn.ResultFail:
			result = r
		}
	}
	return obj, result, true
}

// severity orders results: a worse one wins.
func severity(result string) int {
	switch result {
	case keptn.ResultPass:
		return 1
	case keptn.ResultWarning:
		return 2
	case keptn.ResultFail:
		return 3
	}
	return 0
}

// worse returns the worse of two results ("" counts as no result).
func worse(a, b string) string {
	if severity(b) > severity(a) {
		return b
	}
	return a
}
