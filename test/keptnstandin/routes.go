package keptnstandin

import (
	"errors"
	"net/url"
	"strings"
)

// operation is what a routed request asks for.
type operation int

const (
	opNone operation = iota
	opGetResource
	opListResources
	opPostEvent
)

// level is where a resource lives in a project.
type level int

const (
	levelProject level = iota
	levelStage
	levelService
)

// Base paths. In-cluster the resource-service and the api-service each serve
// /v1; behind the api-gateway-nginx they sit below /api.
const (
	directBase          = "/v1"
	gatewayResourceBase = "/api/resource-service/v1"
	gatewayAPIBase      = "/api/v1"
	eventPath           = "/event"
)

// Request counter keys: the method and the OpenAPI path template (relative to
// the base path /v1, as in contract/keptn.openapi.yaml), the same in direct
// and gateway mode.
const (
	KeyEvent            = "POST /event"
	KeyProjectResource  = "GET /project/{projectName}/resource/{resourceURI}"
	KeyStageResource    = "GET /project/{projectName}/stage/{stageName}/resource/{resourceURI}"
	KeyServiceResource  = "GET /project/{projectName}/stage/{stageName}/service/{serviceName}/resource/{resourceURI}"
	KeyProjectResources = "GET /project/{projectName}/resource"
	KeyStageResources   = "GET /project/{projectName}/stage/{stageName}/resource"
	KeyServiceResources = "GET /project/{projectName}/stage/{stageName}/service/{serviceName}/resource"
	KeyUnmatched        = "unmatched"
)

var (
	errNoRoute   = errors.New("no such route")
	errBadEscape = errors.New("malformed percent-escape in path")
)

// route is a request path taken apart the way Keptn's services see it.
type route struct {
	op       operation
	method   string // the one method the stand-in serves on this path
	template string // OpenAPI path template, relative to basePath /v1
	level    level
	// Entity names are raw path segments: gin runs with
	// UnescapePathValues=false, so Keptn never unescapes them either.
	project, stage, service string
	// resourceURI is the {resourceURI} segment as the resource-service
	// receives it: still escaped (job%2Fconfig.yaml). Keptn echoes it back
	// and unescapes it only to find the file.
	resourceURI string
}

func (rt route) pathParams() map[string]string {
	p := map[string]string{}
	if rt.project != "" {
		p["projectName"] = rt.project
	}
	if rt.stage != "" {
		p["stageName"] = rt.stage
	}
	if rt.service != "" {
		p["serviceName"] = rt.service
	}
	if rt.op == opGetResource {
		p["resourceURI"] = rt.resourceURI
	}
	return p
}

// parseRoute routes an escaped request path (url.URL.EscapedPath). With
// gateway set it first does what the api-gateway-nginx does: it unescapes the
// path once, so a resourceURI must arrive escaped twice (job%252Fconfig.yaml,
// keptn/keptn#6575). A '/' that is not escaped (enough) splits the path and no
// route matches, which is how Keptn answers it too.
func parseRoute(escapedPath string, gateway bool) (route, error) {
	resourceBase, apiBase := directBase, directBase
	if gateway {
		unescaped, err := url.PathUnescape(escapedPath)
		if err != nil {
			return route{}, errBadEscape
		}
		escapedPath = unescaped
		resourceBase, apiBase = gatewayResourceBase, gatewayAPIBase
	}
	if escapedPath == apiBase+eventPath {
		return route{op: opPostEvent, method: "POST", template: eventPath}, nil
	}
	rest, ok := strings.CutPrefix(escapedPath, resourceBase+"/")
	if !ok {
		return route{}, errNoRoute
	}
	return parseResourcePath(strings.Split(rest, "/"))
}

// parseResourcePath matches the segments after /v1/ against the six resource
// GET routes.
func parseResourcePath(seg []string) (route, error) {
	for _, s := range seg {
		if s == "" {
			return route{}, errNoRoute
		}
	}
	if len(seg) < 3 || seg[0] != "project" {
		return route{}, errNoRoute
	}
	rt := route{method: "GET", project: seg[1]}
	tmpl := "/project/{projectName}"
	rest := seg[2:]
	if len(rest) >= 2 && rest[0] == "stage" {
		rt.stage, rt.level, tmpl, rest = rest[1], levelStage, tmpl+"/stage/{stageName}", rest[2:]
		if len(rest) >= 2 && rest[0] == "service" {
			rt.service, rt.level, tmpl, rest = rest[1], levelService, tmpl+"/service/{serviceName}", rest[2:]
		}
	}
	switch {
	case len(rest) == 1 && rest[0] == "resource":
		rt.op, rt.template = opListResources, tmpl+"/resource"
	case len(rest) == 2 && rest[0] == "resource":
		rt.op, rt.template, rt.resourceURI = opGetResource, tmpl+"/resource/{resourceURI}", rest[1]
	default:
		return route{}, errNoRoute
	}
	return rt, nil
}

// key is the request counter key of a routed request.
func (rt route) key() string {
	if rt.op == opNone {
		return KeyUnmatched
	}
	return rt.method + " " + rt.template
}
