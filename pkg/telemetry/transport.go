package telemetry

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Transport wraps a Kubernetes client's transport (rest.Config.Wrap) so
// that every API request is counted by verb, resource and status code: the
// API calls an event costs, and the conflicts (409) claims run into.
func (m *Metrics) Transport(rt http.RoundTripper) http.RoundTripper {
	if m == nil {
		return rt
	}
	return &countingTransport{next: rt, m: m}
}

type countingTransport struct {
	next http.RoundTripper
	m    *Metrics
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	verb, resource := Classify(req.Method, req.URL)
	c.m.kubeRequest(req.Context(), verb, resource, code)
	return resp, err
}

// namespaceSubresources are the subresources of a namespace itself; any
// other word after namespaces/<name>/ is a resource in that namespace (as
// the API server's RequestInfoFactory reads paths).
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// Classify names a Kubernetes API request as the API server's audit log
// does: its verb (get, list, watch, create, update, patch, delete,
// deletecollection) and its resource ("pods", "pods/log", "jobs.batch",
// "events.events.k8s.io"). Requests outside /api and /apis get the
// resource "nonresource".
func Classify(method string, u *url.URL) (verb, resource string) {
	var path string
	var watch bool
	if u != nil {
		path = u.Path
		switch u.Query().Get("watch") {
		case "true", "1":
			watch = true
		}
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		return verbOf(method, false, watch), "nonresource"
	}
	if len(parts) > 0 && parts[0] == "watch" {
		watch, parts = true, parts[1:]
	}
	if len(parts) > 2 && parts[0] == "namespaces" && !namespaceSubresources[parts[2]] {
		parts = parts[2:]
	}
	if len(parts) == 0 || parts[0] == "" {
		return verbOf(method, false, watch), "nonresource"
	}
	resource = parts[0]
	named := len(parts) > 1
	if len(parts) > 2 {
		resource += "/" + parts[2]
	}
	if group != "" {
		resource += "." + group
	}
	return verbOf(method, named, watch), resource
}

func verbOf(method string, named, watch bool) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watch:
			return "watch"
		case named:
			return "get"
		default:
			return "list"
		}
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if named {
			return "delete"
		}
		return "deletecollection"
	default:
		return strings.ToLower(method)
	}
}
