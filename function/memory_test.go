package function

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
)

func TestReturnSweepMemory(t *testing.T) {
	calls := 0
	old := freeOSMemory
	freeOSMemory = func() { calls++ }
	t.Cleanup(func() { freeOSMemory = old })

	for _, tc := range []struct {
		scanned int
		want    int
	}{
		{scanned: 0, want: 0},
		{scanned: bigSweep - 1, want: 0},
		{scanned: bigSweep, want: 1},
		{scanned: 5000, want: 1},
	} {
		calls = 0
		returnSweepMemory(reporter.SweepStats{Scanned: tc.scanned})
		assert.Equal(t, tc.want, calls, "scanned %d", tc.scanned)
	}
}
