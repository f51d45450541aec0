package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

func dataOf(t *testing.T, ce event.Event) map[string]any {
	t.Helper()
	var d map[string]any
	require.NoError(t, json.Unmarshal(ce.Data(), &d))
	return d
}

func taskOf(ce event.Event) string {
	return strings.Split(ce.Type(), ".")[3]
}

func restrictedNamespace(t *testing.T) string {
	return testbed.Namespace(t, testbed.Restricted())
}
