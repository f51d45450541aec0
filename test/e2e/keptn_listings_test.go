package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Keptn's listings hold metadata.yaml at every level, and a stage's listing
// holds every service's files below "<service>/" (a stage is a branch, its
// services are folders). The fetcher asks for what the config names: a
// folder brings only the files below it (never the level's metadata.yaml),
// metadata.yaml comes only when named, and a folder named like another
// service of the stage, missing at the service level, is that service's
// folder at the stage level (docs/config.md, "Files and levels").
func TestKeptnListings(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	const p, st, sv = "e2e-project", "e2e", "e2e-service"
	cfg := `apiVersion: v2
actions:
  - name: files
    events:
      - name: sh.keptn.event.test.triggered
    tasks:
      - name: t
        image: alpine:3.20
        files: [locust/, orders/, metadata.yaml]
`
	e.commit(map[string]string{
		serviceResource(p, st, sv, "job/config.yaml"):   cfg,
		serviceResource(p, st, sv, "locust/basic.py"):   "print('hi')\n",
		serviceResource(p, st, "orders", "orders.yaml"): "belongs to orders\n",
	})
	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	created := e.jobsOf(ce.ID())
	require.Len(t, created, 1)
	got := map[string]string{}
	for k, v := range e.fetch(created[0]) {
		got[k] = string(v)
	}
	assert.Equal(t, map[string]string{
		"locust/basic.py":      "print('hi')\n",
		"metadata.yaml":        "servicename: e2e-service\n",
		"orders/orders.yaml":   "belongs to orders\n",
		"orders/metadata.yaml": "servicename: orders\n",
	}, got)

	// The stand-in's escaping, as the real resource-service's: sent
	// directly, a double-escaped URI is served, echoed single-escaped.
	u := e.keptn.ResourceServiceURL() + "/v1/project/" + p + "/stage/" + st + "/service/" + sv + "/resource/" + url.PathEscape("job%2Fconfig.yaml")
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	req.Header.Set("x-token", e.keptn.Token())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var res struct {
		ResourceURI string `json:"resourceURI"`
	}
	require.NoError(t, json.Unmarshal(body, &res))
	assert.Equal(t, "job%2Fconfig.yaml", res.ResourceURI)
}
