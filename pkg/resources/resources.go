package resources

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
)

// Scope names the level of Keptn's configuration repository a resource is
// read from. An empty Service means the stage level, an empty Stage (and
// Service) the project level.
type Scope struct {
	Project, Stage, Service string
}

// Level is "service", "stage" or "project".
func (s Scope) Level() string {
	switch {
	case s.Service != "":
		return "service"
	case s.Stage != "":
		return "stage"
	default:
		return "project"
	}
}

func (s Scope) String() string {
	switch s.Level() {
	case "service":
		return fmt.Sprintf("project %q stage %q service %q", s.Project, s.Stage, s.Service)
	case "stage":
		return fmt.Sprintf("project %q stage %q", s.Project, s.Stage)
	default:
		return fmt.Sprintf("project %q", s.Project)
	}
}

// Validate checks that the scope names a real level and that every name is a
// single, harmless path segment: the names end up both in URL paths and, for
// DirSource, in file system paths.
func (s Scope) Validate() error {
	if s.Project == "" {
		return fmt.Errorf("%w: project is empty", ErrInvalidScope)
	}
	if s.Service != "" && s.Stage == "" {
		return fmt.Errorf("%w: service %q given without a stage", ErrInvalidScope, s.Service)
	}
	for _, f := range []struct{ field, v string }{{"project", s.Project}, {"stage", s.Stage}, {"service", s.Service}} {
		if f.v == "" {
			continue
		}
		if err := validName(f.v); err != nil {
			return fmt.Errorf("%w: %s %q: %w", ErrInvalidScope, f.field, f.v, err)
		}
	}
	return nil
}

// validName accepts what Keptn accepts for project, stage and service names
// (lower-case DNS-like labels) and more, but never anything that changes the
// shape of a path.
func validName(v string) error {
	if v == "." || v == ".." {
		return errors.New("is a relative path element")
	}
	if len(v) > maxSegmentBytes {
		return fmt.Errorf("is longer than %d bytes", maxSegmentBytes)
	}
	for _, r := range v {
		if r == '/' || r == '\\' || r == '%' || r == '?' || r == '#' || unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("contains %q", r)
		}
	}
	return nil
}

// Resource is one file of Keptn's configuration repository.
type Resource struct {
	// URI is the resource path as requested, relative to the level's root,
	// e.g. "job/config.yaml".
	URI     string
	Content []byte
	// Version is the git commit the server read the file from
	// (metadata.version); empty when the source has no notion of commits.
	Version string
}

var (
	// ErrNotFound is wrapped by every "no such resource" answer (HTTP 404,
	// also for an unknown project, stage or service). Test with errors.Is.
	// It is permanent (pkg/permanent): asking again finds nothing either.
	ErrNotFound = permanent.New(errors.New("keptn resource not found"))
	// ErrInvalidScope is wrapped when a Scope cannot name a level.
	ErrInvalidScope = errors.New("invalid keptn scope")
)

// ResourceGetter reads one resource. gitCommitID may be empty (HEAD).
type ResourceGetter interface {
	GetResource(ctx context.Context, s Scope, uri, gitCommitID string) (*Resource, error)
}

// ResourceLister lists every resource URI at one level (not recursive over
// levels), without a leading "/".
type ResourceLister interface {
	ListResources(ctx context.Context, s Scope, gitCommitID string) ([]string, error)
}

// Lookup is one step of the fallback order.
type Lookup struct {
	Scope       Scope
	GitCommitID string
}

// LookupOrder is JES's order: service and stage at the event's commit, then
// the project WITHOUT it, because Keptn keeps stages on their own branches and
// the commit may not exist on the default branch the project level reads.
// Levels the scope does not name are skipped.
func LookupOrder(s Scope, gitCommitID string) []Lookup {
	var out []Lookup
	if s.Stage != "" && s.Service != "" {
		out = append(out, Lookup{Scope: s, GitCommitID: gitCommitID})
	}
	if s.Stage != "" {
		out = append(out, Lookup{Scope: Scope{Project: s.Project, Stage: s.Stage}, GitCommitID: gitCommitID})
	}
	return append(out, Lookup{Scope: Scope{Project: s.Project}})
}

// FindWithFallback reads uri from the first level of LookupOrder that has it
// and reports that level. Only ErrNotFound moves on to the next level: any
// other error (Keptn unreachable, auth refused) is returned at once, so that
// an outage is never mistaken for "no config here". JES swallowed all errors.
func FindWithFallback(ctx context.Context, g ResourceGetter, s Scope, uri, gitCommitID string) (*Resource, Scope, error) {
	if err := s.Validate(); err != nil {
		return nil, Scope{}, err
	}
	order := LookupOrder(s, gitCommitID)
	tried := make([]string, 0, len(order))
	for _, l := range order {
		r, err := g.GetResource(ctx, l.Scope, uri, l.GitCommitID)
		if err == nil {
			return r, l.Scope, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, Scope{}, err
		}
		tried = append(tried, l.Scope.Level())
	}
	return nil, Scope{}, fmt.Errorf("%w: %q in %s (looked at %s level)", ErrNotFound, uri, s, strings.Join(tried, ", "))
}
