package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

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

// firstTask reads the shipyard's first task of stage/sequence.
func firstTask(t *testing.T, shipyard, stage, sequence string) string {
	t.Helper()
	var s struct {
		Spec struct {
			Stages []struct {
				Name      string `json:"name"`
				Sequences []struct {
					Name  string `json:"name"`
					Tasks []struct {
						Name string `json:"name"`
					} `json:"tasks"`
				} `json:"sequences"`
			} `json:"stages"`
		} `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(shipyard), &s))
	for _, st := range s.Spec.Stages {
		for _, seq := range st.Sequences {
			if st.Name == stage && seq.Name == sequence && len(seq.Tasks) > 0 {
				return seq.Tasks[0].Name
			}
		}
	}
	t.Fatalf("shipyard has no sequence %s in stage %s", sequence, stage)
	return ""
}

func restrictedNamespace(t *testing.T) string {
	return testbed.Namespace(t, testbed.Restricted())
}
