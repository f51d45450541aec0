package jobs

import (
	"os"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// benchBuild renders action 0 of the config at path for a triggered event
// of type typ carrying data: the per-event work between a parsed config
// and the Job create.
func benchBuild(b *testing.B, path, typ string, data map[string]any) {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := jobconfig.Parse("job/config.yaml", raw)
	if err != nil {
		b.Fatal(err)
	}
	ce := event.New()
	ce.SetID("0f2a5a7e-6c2b-4a4e-9a53-3f6f4c3c2d10")
	ce.SetSource("shipyard-controller")
	ce.SetType(typ)
	ce.SetExtension(keptn.ExtContext, "9f3b2c1d-8e7f-4a6b-9c5d-4e3f2a1b0c9d")
	ce.SetExtension(keptn.ExtGitCommitID, "1234567890abcdef")
	if err := ce.SetData(event.ApplicationJSON, data); err != nil {
		b.Fatal(err)
	}
	ev, err := keptn.ParseTaskEvent(ce)
	if err != nil {
		b.Fatal(err)
	}
	s := testSettings()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(cfg, 0, ev, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild builds the Job of the locust end-to-end config: files,
// env from the event (jsonpath) and a multi-line command.
func BenchmarkBuild(b *testing.B) {
	benchBuild(b, jobConfigs+"locust.yaml", "sh.keptn.event.test.triggered", map[string]any{
		"project": "e2e-project", "stage": "qa", "service": "carts",
		"labels":     map[string]string{"build-id": "42"},
		"deployment": map[string]any{"deploymentURIsPublic": []any{"http://carts.qa.example"}},
		"test":       map[string]any{"teststrategy": "locust"},
	})
}

// BenchmarkBuildEnvVar builds the env config: every env form.
func BenchmarkBuildEnvVar(b *testing.B) {
	benchBuild(b, jobConfigs+"env.yaml", "sh.keptn.event.deployment.triggered", map[string]any{
		"project": "e2e-project", "stage": "e2e", "service": "e2e-service",
		"labels":         map[string]string{"jsonPathLabel": "label-value"},
		"additionalData": map[string]any{"jsonPathArray": []any{"a", "b"}, "nested": map[string]any{"k": "v"}},
	})
}
