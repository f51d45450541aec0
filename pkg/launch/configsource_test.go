package launch

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

// versions serves a new config on every read, as a repository under many
// pushes would.
type versions struct {
	n    int
	args int
}

func (v *versions) GetResource(context.Context, resources.Scope, string, string) (*resources.Resource, error) {
	v.n++
	doc := fmt.Sprintf("apiVersion: v2\nactions:\n  - name: a%d\n    event: sh.keptn.event.test.triggered\n    image: alpine\n    args: [%s]\n", v.n, strings.TrimSuffix(strings.Repeat("x,", v.args), ","))
	return &resources.Resource{URI: "job/config.yaml", Content: []byte(doc), Version: fmt.Sprint(v.n)}, nil
}

// The parse cache is bounded by what its configs cost, whatever their
// number or size.
func TestConfigsCacheIsBoundedInBytes(t *testing.T) {
	for _, args := range []int{1, 20_000} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			c := &Configs{Resources: &versions{args: args}}
			ev := &keptn.TaskEvent{Project: "p", Stage: "s", Service: "v"}
			var costs int64
			for range 200 {
				cfg, err := c.Load(context.Background(), ev)
				require.NoError(t, err)
				costs += cfg.Cost
				assert.LessOrEqual(t, c.held, int64(maxParsedBytes))
			}
			var sum int64
			for _, cfg := range c.parsed {
				sum += cfg.Cost
			}
			assert.Equal(t, c.held, sum, "held is what the cache holds")
			if args > 1 {
				assert.Greater(t, costs, int64(maxParsedBytes), "the test did fill the cache")
			}
		})
	}
}
