package function

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

// Towards Keptn's API, the config's GET and the events' POSTs go over one
// pool of connections with one trust (KEPTN_CA_FILE): the first event's
// .started reuses the connection its config came over.
func TestConfigsAndEventsShareTheConnectionsToKeptn(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_ = json.NewEncoder(w).Encode(map[string]string{"resourceURI": "job/config.yaml", "resourceContent": base64.StdEncoding.EncodeToString([]byte("x"))})
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"keptnContext":"c"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	configs, out, err := keptnClients(map[string]string{"KEPTN_API_URL": srv.URL, "KEPTN_API_TOKEN": "t", "KEPTN_CA_FILE": ca})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = configs.GetResource(ctx, resources.Scope{Project: "p", Stage: "s", Service: "v"}, "job/config.yaml", "")
	require.NoError(t, err)
	ev := event.New()
	ev.SetID("1")
	ev.SetSource("s")
	ev.SetType("sh.keptn.event.test.started")
	require.NoError(t, ev.SetData(event.ApplicationJSON, map[string]string{"project": "p"}))
	require.NoError(t, out.Send(ctx, ev))
	assert.Equal(t, int32(1), conns.Load(), "one connection for the config and the event")
}

func TestKeptnTrustIsOneChoice(t *testing.T) {
	_, _, err := keptnClients(map[string]string{"KEPTN_API_URL": "https://keptn", "KEPTN_CA_FILE": "/dev/null", "KEPTN_INSECURE_SKIP_VERIFY": "true"})
	require.ErrorContains(t, err, "KEPTN_CA_FILE and KEPTN_INSECURE_SKIP_VERIFY contradict each other")
}
