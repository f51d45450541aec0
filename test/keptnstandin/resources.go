package keptnstandin

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// resourceResponse is the resource-service's models.GetResourceResponse.
type resourceResponse struct {
	ResourceContent string  `json:"resourceContent,omitempty"`
	ResourceURI     string  `json:"resourceURI"`
	Metadata        version `json:"metadata"`
}

// version is the resource-service's models.Version.
type version struct {
	UpstreamURL string `json:"upstreamURL,omitempty"`
	Version     string `json:"version,omitempty"`
}

// resourcesResponse is the resource-service's models.GetResourcesResponse.
// Keptn never fills pageSize, so it is left out.
type resourcesResponse struct {
	NextPageKey string             `json:"nextPageKey,omitempty"`
	Resources   []resourceResponse `json:"resources"`
	TotalCount  float64            `json:"totalCount,omitempty"`
}

const defaultPageSize = 20 // the resource-service's default

// serveResource answers the six resource GET routes.
func (s *Server) serveResource(r *http.Request, rt route) reply {
	q := r.URL.Query()
	if rt.op == opListResources {
		return s.repo.listResources(rt, q.Get("pageSize"), q.Get("nextPageKey"), s.opts.upstreamURL)
	}
	if !s.opts.gateway {
		// Reached directly, the resource-service unescapes the resource
		// URI once more before its own QueryUnescape (observed: a
		// double-escaped job%252Fconfig.yaml is served, and echoed
		// single-escaped; a file lit%41.txt sent as lit%2541.txt is 404).
		// Behind the gateway that extra pass is the gateway's own
		// (parseRoute), which is why lit%41.txt is served there.
		once, err := url.PathUnescape(rt.resourceURI)
		if err != nil {
			return plainReply(http.StatusBadRequest, "400 Bad Request")
		}
		if strings.Contains(once, "%") {
			// Otherwise the second pass finds what the first would have
			// (the echo stays as sent).
			rt.resourceURI = once
		}
	}
	return s.repo.getResource(rt, q.Get("gitCommitID"), s.opts.upstreamURL)
}

// getResource reads one file. Like Keptn it falls back neither across levels
// nor across commits: clients do the service -> stage -> project fallback.
func (r *repository) getResource(rt route, gitCommitID, upstream string) reply {
	if invalidResourceURI(rt.resourceURI) {
		return keptnError(http.StatusBadRequest, "invalid resource uri")
	}
	// Keptn uses QueryUnescape, so '+' becomes a space.
	uri, err := url.QueryUnescape(rt.resourceURI)
	if err != nil {
		// Only reachable behind the gateway (%25zz unescaped to %zz):
		// the resource-service's Go HTTP server rejects such a path itself.
		return plainReply(http.StatusBadRequest, "400 Bad Request")
	}
	// Keptn checks only the escaped form; %2E%2E would slip through there.
	// Nothing here touches a file system, but a client sending it is wrong.
	if invalidResourceURI(uri) {
		return keptnError(http.StatusBadRequest, "invalid resource uri")
	}
	if gitCommitID == `""` { // Keptn treats a quoted empty ID as none
		gitCommitID = ""
	}
	head, at, found := r.snapshots(gitCommitID)
	if rep, missing := entityMissing(head, rt); missing {
		return rep
	}
	if !found {
		// go-git's plumbing.ErrReferenceNotFound is not one of the errors
		// the resource-service maps (handler/common.go OnAPIError), so an
		// unknown gitCommitID ends as a 500.
		return keptnError(http.StatusInternalServerError, "Internal server error")
	}
	loc := location{level: rt.level, project: rt.project, stage: rt.stage, service: rt.service, uri: uri}
	data, ok := at.file(loc)
	if !ok {
		return keptnError(http.StatusNotFound, "Resource not found")
	}
	served := gitCommitID
	if served == "" {
		served = head.id
	}
	return jsonReply(http.StatusOK, resourceResponse{
		ResourceContent: base64.StdEncoding.EncodeToString(data),
		ResourceURI:     rt.resourceURI,
		Metadata:        version{UpstreamURL: upstream, Version: served},
	})
}

// listResources lists the files of one level at the newest commit; Keptn's
// list ignores gitCommitID.
func (r *repository) listResources(rt route, pageSizeParam, nextPageKey, upstream string) reply {
	head, _, _ := r.snapshots("")
	if rep, missing := entityMissing(head, rt); missing {
		return rep
	}
	pageSize := int64(defaultPageSize)
	if pageSizeParam != "" {
		n, err := strconv.ParseInt(pageSizeParam, 10, 64)
		if err != nil {
			return keptnError(http.StatusBadRequest, "Invalid request format")
		}
		pageSize = n
	}
	loc := location{level: rt.level, project: rt.project, stage: rt.stage, service: rt.service}
	var uris []string
	for _, u := range head.listing(loc) {
		if !strings.Contains(u, ".git") { // Keptn's walk skips these
			uris = append(uris, u)
		}
	}
	start, end, next := paginate(len(uris), pageSize, nextPageKey)
	resp := resourcesResponse{NextPageKey: next, Resources: []resourceResponse{}, TotalCount: float64(len(uris))}
	if start < int64(len(uris)) {
		if start < 0 || end < start {
			// Keptn slices with these bounds and panics; gin recovers with a 500.
			return keptnError(http.StatusInternalServerError, "Internal server error")
		}
		for _, u := range uris[start:end] {
			resp.Resources = append(resp.Resources, resourceResponse{
				ResourceURI: u,
				Metadata:    version{UpstreamURL: upstream, Version: head.id},
			})
		}
	}
	return jsonReply(http.StatusOK, resp)
}

// paginate is the resource-service's Paginate: nextPageKey is a decimal
// offset (garbage reads as 0), and "0" means there is no next page.
func paginate(total int, pageSize int64, nextPageKey string) (start, end int64, next string) {
	newNext := pageSize
	if nextPageKey != "" {
		n, _ := strconv.Atoi(nextPageKey)
		start = int64(n)
		newNext = start + pageSize
	}
	end = min(int64(total), start+pageSize)
	next = "0"
	if newNext < int64(total) {
		next = strconv.FormatInt(newNext, 10)
	}
	return start, end, next
}

// entityMissing answers the 404 Keptn gives when the project, stage or
// service of a route does not exist at the newest commit, in the order the
// resource-service checks them.
func entityMissing(head commit, rt route) (reply, bool) {
	loc := location{project: rt.project, stage: rt.stage, service: rt.service}
	checks := []struct {
		lvl  level
		what string
	}{{levelProject, "Project"}, {levelStage, "Stage"}, {levelService, "Service"}}
	for _, c := range checks {
		if c.lvl > rt.level {
			break
		}
		loc.level = c.lvl
		if !head.hasDir(loc.dir()) {
			return keptnError(http.StatusNotFound, c.what+" not found"), true
		}
	}
	return reply{}, false
}

// invalidResourceURI is the resource-service's validateResourceURI.
func invalidResourceURI(uri string) bool {
	return strings.Contains(uri, "~") || strings.Contains(uri, "..")
}
