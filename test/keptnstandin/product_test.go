package keptnstandin

// These tests run the product's own Keptn code (pkg/keptn) against the
// stand-in, so the two cannot drift apart unnoticed.

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"

	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

func TestProductResourceClient(t *testing.T) {
	dirSource, err := resources.NewDirSource("testdata/layout")
	if err != nil {
		t.Fatal(err)
	}
	scopes := []resources.Scope{
		{Project: "sockshop", Stage: "dev", Service: "service-1"},
		{Project: "sockshop", Stage: "dev", Service: "carts"},
		{Project: "sockshop", Stage: "production", Service: "carts"},
	}
	for _, gateway := range []bool{false, true} {
		s := NewStarted(t, WithGateway(gateway))
		head, err := s.LoadDir("testdata/layout")
		if err != nil {
			t.Fatal(err)
		}
		client, err := resources.NewResourceClient(s.ResourceServiceURL(), resources.WithToken(s.Token()))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, sc := range scopes {
			got, gotScope, err := resources.FindWithFallback(ctx, client, sc, jobConfig, head)
			if err != nil {
				t.Fatalf("gateway=%v %s: %v", gateway, sc, err)
			}
			// The product reads the same layout from a directory; both must
			// pick the same level and the same bytes.
			want, wantScope, err := resources.FindWithFallback(ctx, dirSource, sc, jobConfig, "")
			if err != nil {
				t.Fatal(err)
			}
			if gotScope != wantScope || string(got.Content) != string(want.Content) || got.Version != head {
				t.Errorf("gateway=%v %s: stand-in gave %s level (version %s), directory gave %s level; contents equal: %v",
					gateway, sc, gotScope.Level(), got.Version, wantScope.Level(), string(got.Content) == string(want.Content))
			}
		}
		list, err := client.ListResources(ctx, resources.Scope{Project: "sockshop", Stage: "dev", Service: "carts"}, head)
		// Keptn lists the level's metadata.yaml too.
		if err != nil || !slices.Equal(list, []string{"locust/basic.py", "metadata.yaml"}) {
			t.Errorf("gateway=%v: ListResources = %v, %v", gateway, list, err)
		}
		// An unknown commit is a 500 in Keptn: the product must not read it
		// as "no config here" and fall back.
		_, _, err = resources.FindWithFallback(ctx, client, scopes[0], jobConfig, "0123456789abcdef0123456789abcdef01234567")
		if err == nil || permanent.Is(err) {
			t.Errorf("gateway=%v: unknown commit gave %v, want a retryable error", gateway, err)
		}
	}
}

// TestProductSendsEvents sends the product's .started, .finished and
// log.error through its own sender, in both modes, and checks how it
// classifies Keptn's refusals and outages.
func TestProductSendsEvents(t *testing.T) {
	o := keptn.Origin{
		Task: "test", TriggeredID: "3f9640b6-1d2a-4f11-95f5-23259f1d82d6", Context: "a3e5f16d-8888-4720-82c7-6995062905c1",
		GitCommitID: "521747298a3790fde1710f3aa2d03b55020575aa", Project: "sockshop", Stage: "dev", Service: "carts",
		Labels: map[string]string{"k": "v"},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	started, err := keptn.StartedEvent("job-executor-knative", "id-1", o, now)
	if err != nil {
		t.Fatal(err)
	}
	fin, err := keptn.FinishedEvent("job-executor-knative", "id-2", o, keptn.Finished{Status: keptn.StatusSucceeded, Result: keptn.ResultPass, Message: "ok"}, now)
	if err != nil {
		t.Fatal(err)
	}
	logErr, err := keptn.LogErrorEvent("job-executor-knative", "id-3", o, "integration-id", "boom", now)
	if err != nil {
		t.Fatal(err)
	}
	noResult, err := keptn.FinishedEvent("job-executor-knative", "id-4", o, keptn.Finished{Status: keptn.StatusErrored}, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, gateway := range []bool{false, true} {
		s := NewStarted(t, WithGateway(gateway))
		api := sink.NewKeptnAPI(s.APIURL(), s.Token(), nil)
		for _, ev := range []event.Event{started, fin, logErr} {
			if err := api.Send(ctx, ev); err != nil {
				t.Errorf("gateway=%v: sending %s: %v", gateway, ev.Type(), err)
			}
		}
		got := s.Events()
		if len(got) != 3 || got[1].Type != "sh.keptn.event.test.finished" || got[1].Triggeredid != o.TriggeredID ||
			got[1].KeptnContext != o.Context || got[1].Data["result"] != "pass" || got[1].Gitcommitid != o.GitCommitID {
			t.Errorf("gateway=%v: recorded %+v", gateway, got)
		}

		// Keptn refuses a .finished without result: final, not retried.
		err := api.Send(ctx, noResult)
		var se *sink.SendError
		if !errors.As(err, &se) || se.Status != 400 || !permanent.Is(err) {
			t.Errorf("gateway=%v: a .finished without result gave %v, want a final 400", gateway, err)
		}
		if err := sink.NewKeptnAPI(s.APIURL(), "wrong", nil).Send(ctx, fin); !errors.As(err, &se) || se.Status != 401 || strings.Contains(err.Error(), "wrong") {
			t.Errorf("gateway=%v: a wrong token gave %v, want a 401 that does not quote the token", gateway, err)
		}
		s.SetDown(true)
		if err := api.Send(ctx, fin); err == nil || permanent.Is(err) {
			t.Errorf("gateway=%v: Keptn down gave %v, want a retryable error", gateway, err)
		}
		s.SetDown(false)
		s.SetHangUp(true)
		if err := api.Send(ctx, fin); err == nil || permanent.Is(err) {
			t.Errorf("gateway=%v: a hung-up connection gave %v, want a retryable error", gateway, err)
		}
		s.SetHangUp(false)
		if n := len(s.Events()); n != 3 {
			t.Errorf("gateway=%v: %d events recorded, want only the 3 accepted", gateway, n)
		}
	}
}

// TestCloudEventJSONIsNotKeptnJSON records why the product sets event data
// as json.RawMessage and has its own encoder (sink.KeptnBody): the
// CloudEvents SDK writes []byte data as data_base64, and Keptn's api-service
// requires a "data" object; and a structured CloudEvent's "datacontenttype"
// is not a field of Keptn's KeptnContextExtendedCE (the api-service would
// drop it), which the contract refuses.
func TestCloudEventJSONIsNotKeptnJSON(t *testing.T) {
	s := NewStarted(t)
	raw := cloudevents.NewEvent()
	raw.SetID("id-0")
	raw.SetSource("job-executor-knative")
	raw.SetType("sh.keptn.event.test.started")
	raw.SetExtension("triggeredid", "t")
	_ = raw.SetData(cloudevents.ApplicationJSON, []byte(`{"project":"p","stage":"s","service":"v"}`))
	body, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/cloudevents+json", body)
	if r.status != 400 || !strings.Contains(string(r.body), `property \"data\" is missing`) {
		t.Errorf("SDK JSON of []byte data: %d %s, want 400 for the missing data object", r.status, r.body)
	}

	ev, err := keptn.StartedEvent("job-executor-knative", "id-1", keptn.Origin{Task: "test", TriggeredID: "t", Project: "p", Stage: "s", Service: "v"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if body, err = json.Marshal(ev); err != nil {
		t.Fatal(err)
	}
	if r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/cloudevents+json", body); r.status != 400 || !strings.Contains(string(r.body), `unknown field \"datacontenttype\"`) {
		t.Errorf("our event as structured CloudEvent JSON: %d %s, want 400 for datacontenttype", r.status, r.body)
	}
	keptnBody, err := sink.KeptnBody(ev)
	if err != nil {
		t.Fatal(err)
	}
	if r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/json", keptnBody); r.status != 200 {
		t.Errorf("sink.KeptnBody: %d %s, want 200", r.status, r.body)
	}
}

// TestProductFinishedDataFitsGoUtils sends .finished events the way
// pkg/verdict builds them (test start, end and gitCommit, a task's
// structured result under its name) through the product's sender: Keptn's
// go-utils types must hold them, so the contract records no violation.
func TestProductFinishedDataFitsGoUtils(t *testing.T) {
	s := NewStarted(t)
	api := sink.NewKeptnAPI(s.APIURL(), s.Token(), nil)
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	result := map[string]any{"result": "warning", "sli": map[string]any{"response_time_p95_ms": json.Number("230"), "error_rate": json.Number("0.01")}}
	for i, task := range []string{"test", "deployment", "evaluation", "my-custom-task"} {
		o := keptn.Origin{Task: task, TriggeredID: "t", Context: "a3e5f16d-8888-4720-82c7-6995062905c1", GitCommitID: "521747298a3790fde1710f3aa2d03b55020575aa",
			Project: "sockshop", Stage: "dev", Service: "carts", Labels: map[string]string{"buildId": "7"}}
		extra := map[string]any{"run-locust": result}
		if task == "test" {
			extra["test"] = map[string]any{"start": now.Format(time.RFC3339), "end": now.Add(time.Minute).Format(time.RFC3339), "gitCommit": o.GitCommitID}
		}
		started, err := keptn.StartedEvent("job-executor-knative", "s-"+task, o, now)
		if err != nil {
			t.Fatal(err)
		}
		fin, err := keptn.FinishedEvent("job-executor-knative", "f-"+task, o, keptn.Finished{Status: keptn.StatusSucceeded, Result: keptn.ResultWarning, Message: "done", Extra: extra}, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range []event.Event{started, fin} {
			if err := api.Send(context.Background(), ev); err != nil {
				t.Errorf("%s: %v", ev.Type(), err)
			}
		}
		if n := len(s.Events()); n != 2*(i+1) {
			t.Errorf("%s: %d events recorded, want %d", task, n, 2*(i+1))
		}
	}
	if v := s.ContractViolations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}
