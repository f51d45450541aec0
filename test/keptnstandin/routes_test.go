package keptnstandin

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		gateway bool
		want    route
		wantErr error
	}{
		{
			name: "service resource, escaped once in-cluster",
			path: "/v1/project/sockshop/stage/dev/service/carts/resource/job%2Fconfig.yaml",
			want: route{op: opGetResource, method: "GET", level: levelService, project: "sockshop", stage: "dev", service: "carts", resourceURI: "job%2Fconfig.yaml",
				template: "/project/{projectName}/stage/{stageName}/service/{serviceName}/resource/{resourceURI}"},
		},
		{
			name: "stage resource",
			path: "/v1/project/sockshop/stage/dev/resource/job%2Fconfig.yaml",
			want: route{op: opGetResource, method: "GET", level: levelStage, project: "sockshop", stage: "dev", resourceURI: "job%2Fconfig.yaml",
				template: "/project/{projectName}/stage/{stageName}/resource/{resourceURI}"},
		},
		{
			name: "project resource",
			path: "/v1/project/sockshop/resource/shipyard.yaml",
			want: route{op: opGetResource, method: "GET", level: levelProject, project: "sockshop", resourceURI: "shipyard.yaml",
				template: "/project/{projectName}/resource/{resourceURI}"},
		},
		{
			name: "service list",
			path: "/v1/project/sockshop/stage/dev/service/carts/resource",
			want: route{op: opListResources, method: "GET", level: levelService, project: "sockshop", stage: "dev", service: "carts",
				template: "/project/{projectName}/stage/{stageName}/service/{serviceName}/resource"},
		},
		{
			name: "project list",
			path: "/v1/project/sockshop/resource",
			want: route{op: opListResources, method: "GET", level: levelProject, project: "sockshop", template: "/project/{projectName}/resource"},
		},
		{
			name: "a stage named service is still a stage",
			path: "/v1/project/p/stage/service/resource",
			want: route{op: opListResources, method: "GET", level: levelStage, project: "p", stage: "service", template: "/project/{projectName}/stage/{stageName}/resource"},
		},
		{
			name: "event in-cluster",
			path: "/v1/event",
			want: route{op: opPostEvent, method: "POST", template: "/event"},
		},
		{
			name:    "unescaped slash splits the path",
			path:    "/v1/project/sockshop/stage/dev/service/carts/resource/job/config.yaml",
			wantErr: errNoRoute,
		},
		{
			name: "double escape in-cluster reaches Keptn still escaped once",
			path: "/v1/project/p/resource/job%252Fconfig.yaml",
			want: route{op: opGetResource, method: "GET", level: levelProject, project: "p", resourceURI: "job%252Fconfig.yaml",
				template: "/project/{projectName}/resource/{resourceURI}"},
		},
		{
			name:    "gateway, escaped twice",
			path:    "/api/resource-service/v1/project/sockshop/stage/dev/service/carts/resource/job%252Fconfig.yaml",
			gateway: true,
			want: route{op: opGetResource, method: "GET", level: levelService, project: "sockshop", stage: "dev", service: "carts", resourceURI: "job%2Fconfig.yaml",
				template: "/project/{projectName}/stage/{stageName}/service/{serviceName}/resource/{resourceURI}"},
		},
		{
			name:    "gateway, escaped once: nginx unescapes the slash",
			path:    "/api/resource-service/v1/project/sockshop/stage/dev/service/carts/resource/job%2Fconfig.yaml",
			gateway: true,
			wantErr: errNoRoute,
		},
		{
			name:    "gateway event",
			path:    "/api/v1/event",
			gateway: true,
			want:    route{op: opPostEvent, method: "POST", template: "/event"},
		},
		{name: "in-cluster path in gateway mode", path: "/v1/event", gateway: true, wantErr: errNoRoute},
		{name: "gateway path in-cluster", path: "/api/v1/event", wantErr: errNoRoute},
		{name: "gateway, bad escape", path: "/api/v1/%zz", gateway: true, wantErr: errBadEscape},
		{name: "empty project", path: "/v1/project//resource", wantErr: errNoRoute},
		{name: "trailing slash", path: "/v1/project/p/resource/", wantErr: errNoRoute},
		{name: "event with trailing slash", path: "/v1/event/", wantErr: errNoRoute},
		{name: "service without stage", path: "/v1/project/p/service/v/resource", wantErr: errNoRoute},
		{name: "unknown collection", path: "/v1/project/p/stage/s/resources", wantErr: errNoRoute},
		{name: "root", path: "/", wantErr: errNoRoute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRoute(tt.path, tt.gateway)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parseRoute(%q) error = %v, want %v", tt.path, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseRoute(%q) =\n%+v\nwant\n%+v", tt.path, got, tt.want)
			}
		})
	}
}

// FuzzParseRoute checks that a routed path can be rebuilt from its parts, and
// that a resourceURI built by a client the Keptn way (escaped once in-cluster,
// twice at the gateway) always routes to itself.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/v1/project/p/stage/s/service/v/resource/job%2Fconfig.yaml",
		"/v1/project/p/resource",
		"/v1/event",
		"/api/resource-service/v1/project/p/stage/s/resource/a%252Fb",
		"/api/v1/%zz",
		"/v1/project/%2F/resource/x",
		"//v1//project",
	} {
		f.Add(s, false, "job/config.yaml")
		f.Add(s, true, "a b/~c+d%")
	}
	f.Fuzz(func(t *testing.T, path string, gateway bool, uri string) {
		rt, err := parseRoute(path, gateway)
		if err == nil {
			if rt.op == opNone || rt.template == "" || rt.method == "" {
				t.Fatalf("parseRoute(%q) routed to an empty route %+v", path, rt)
			}
			if rt.op != opPostEvent && rebuild(rt, gateway) != unescapeIf(path, gateway) {
				t.Fatalf("parseRoute(%q) = %+v, which rebuilds to %q", path, rt, rebuild(rt, gateway))
			}
		}

		if uri == "" {
			return
		}
		escaped := url.QueryEscape(uri)
		base := "/v1"
		if gateway {
			escaped, base = url.QueryEscape(escaped), "/api/resource-service/v1"
		}
		rt, err = parseRoute(base+"/project/p/stage/s/service/v/resource/"+escaped, gateway)
		if err != nil {
			t.Fatalf("resourceURI %q escaped as a client does: %v", uri, err)
		}
		if got, err := url.QueryUnescape(rt.resourceURI); err != nil || got != uri {
			t.Fatalf("resourceURI %q came back as %q (%v)", uri, got, err)
		}
	})
}

func unescapeIf(p string, gateway bool) string {
	if !gateway {
		return p
	}
	u, _ := url.PathUnescape(p)
	return u
}

func rebuild(rt route, gateway bool) string {
	p := "/v1"
	if gateway {
		p = "/api/resource-service/v1"
	}
	p += "/project/" + rt.project
	if rt.level >= levelStage {
		p += "/stage/" + rt.stage
	}
	if rt.level == levelService {
		p += "/service/" + rt.service
	}
	p += "/resource"
	if rt.op == opGetResource {
		p += "/" + rt.resourceURI
	}
	if strings.Contains(rt.project+rt.stage+rt.service+rt.resourceURI, "/") {
		return "a segment holds a slash"
	}
	return p
}
