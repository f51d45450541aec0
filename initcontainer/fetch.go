package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

// entry is one PATH argument: a file or a folder of the tasks' files.
type entry struct {
	arg        string // as given, for messages
	uri        string // cleaned, no leading or trailing "/"
	folderOnly bool   // the argument ended in "/"
}

func parseEntry(arg string) (entry, error) {
	folder := strings.HasSuffix(arg, "/")
	clean, err := resources.CleanURI(strings.TrimSuffix(arg, "/"))
	if err != nil {
		return entry{}, &exitError{code: exitUnsafePath, err: fmt.Errorf("file entry %q: %w", arg, err)}
	}
	return entry{arg: arg, uri: clean, folderOnly: folder}, nil
}

type resourceSource interface {
	resources.ResourceGetter
	resources.ResourceLister
}

// fetcher copies entries from Keptn into the workspace.
type fetcher struct {
	src     resourceSource
	scope   resources.Scope
	commit  string
	ws      *workspace
	backoff backoff
	log     io.Writer

	written map[string]bool
	files   int
	bytes   int64
}

// fetchEntry looks the entry up level by level (service and stage at the
// commit, project without it). At each level it is first tried as a file,
// then as a folder (every listed resource under "<entry>/"); the first level
// that has either wins, and a folder is never merged across levels.
func (f *fetcher) fetchEntry(ctx context.Context, e entry) error {
	for _, l := range resources.LookupOrder(f.scope, f.commit) {
		if !e.folderOnly {
			r, err := retry(ctx, f.backoff, f.log, "fetching "+e.uri, func(ctx context.Context) (*resources.Resource, error) {
				return f.src.GetResource(ctx, l.Scope, e.uri, l.GitCommitID)
			})
			if err == nil {
				return f.store(r, l)
			}
			if !errors.Is(err, resources.ErrNotFound) {
				return err
			}
		}
		n, err := f.fetchFolder(ctx, e, l)
		if err != nil || n > 0 {
			return err
		}
	}
	kind := "file or folder"
	if e.folderOnly {
		kind = "folder"
	}
	return &exitError{code: exitNotFound, err: fmt.Errorf("%w: %q is no %s at the service, stage or project level of %s (commit %q)",
		resources.ErrNotFound, e.arg, kind, f.scope, f.commit)}
}

// fetchFolder fetches every resource listed under e at one level and returns
// how many it wrote.
func (f *fetcher) fetchFolder(ctx context.Context, e entry, l resources.Lookup) (int, error) {
	uris, err := retry(ctx, f.backoff, f.log, "listing "+l.Scope.Level()+" resources", func(ctx context.Context) ([]string, error) {
		return f.src.ListResources(ctx, l.Scope, l.GitCommitID)
	})
	if errors.Is(err, resources.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	prefix := e.uri + "/"
	var matches []string
	for _, u := range uris {
		if !strings.HasPrefix(u, prefix) {
			continue
		}
		// The server's word is not trusted either: what it lists under
		// the folder must be a plain relative path.
		clean, err := resources.CleanURI(u)
		if err == nil && clean != u {
			err = fmt.Errorf("its clean form is %q", clean)
		}
		if err != nil {
			return 0, &exitError{code: exitUnsafePath, err: fmt.Errorf("%w: Keptn listed %q under folder %q at the %s level: %w",
				errUnsafe, u, e.uri, l.Scope.Level(), err)}
		}
		matches = append(matches, clean)
	}
	slices.Sort(matches)
	matches = slices.Compact(matches)
	n := 0
	for _, u := range matches {
		r, err := retry(ctx, f.backoff, f.log, "fetching "+u, func(ctx context.Context) (*resources.Resource, error) {
			return f.src.GetResource(ctx, l.Scope, u, l.GitCommitID)
		})
		if errors.Is(err, resources.ErrNotFound) {
			// Keptn lists HEAD; a file added after the commit is not
			// part of the folder at that commit.
			fmt.Fprintf(f.log, "skipping %s: listed at the %s level but not present at commit %q\n", u, l.Scope.Level(), l.GitCommitID)
			continue
		}
		if err != nil {
			return n, err
		}
		if err := f.store(r, l); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (f *fetcher) store(r *resources.Resource, l resources.Lookup) error {
	if f.written[r.URI] {
		return nil // named by two entries (a file and its folder)
	}
	if err := f.ws.write(r.URI, r.Content); err != nil {
		return err
	}
	f.written[r.URI] = true
	f.files++
	f.bytes += int64(len(r.Content))
	at := ""
	if r.Version != "" {
		at = " at " + r.Version
	}
	fmt.Fprintf(f.log, "fetched %s (%d bytes) from the %s level%s\n", r.URI, len(r.Content), l.Scope.Level(), at)
	return nil
}

// backoff is exponential with jitter, bounded by the caller's deadline. Ours
// rather than apimachinery's wait.Backoff: the fetcher runs in every Job's
// pod with the Keptn token and carries no k8s.io library (design_test.go).
type backoff struct {
	initial, max time.Duration
}

// retry calls op until it succeeds, fails for good (pkg/permanent: Keptn's
// not-found, auth and unexpected answers), or ctx ends.
func retry[T any](ctx context.Context, b backoff, log io.Writer, what string, op func(context.Context) (T, error)) (T, error) {
	delay := b.initial
	// cause is the last failure that says why Keptn could not be reached:
	// an attempt cut short by the deadline itself says nothing new, and the
	// one-line error the user sees should name the real reason.
	var cause error
	for attempt := 1; ; attempt++ {
		v, err := op(ctx)
		if err == nil || permanent.Is(err) {
			return v, err
		}
		if cause == nil || ctx.Err() == nil || !errors.Is(err, context.DeadlineExceeded) {
			cause = err
		}
		if ctx.Err() == nil {
			// Jitter over [delay/2, delay) spreads many pods retrying
			// against one recovering Keptn; a gateway's Retry-After (429
			// after failed logins from this address) is honoured.
			wait := resources.Backoff(delay, resources.RetryAfterOf(err))
			fmt.Fprintf(log, "%s: attempt %d failed, retrying in %v: %v\n", what, attempt, wait.Round(time.Millisecond), err)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				delay = min(delay*2, b.max)
				continue
			case <-ctx.Done():
				t.Stop()
			}
		}
		var zero T
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return zero, &exitError{code: exitUnreachable, err: fmt.Errorf("%s: deadline reached after %d attempts: %w", what, attempt, cause)}
		}
		return zero, &exitError{code: exitInternal, err: fmt.Errorf("%s: interrupted after %d attempts: %w", what, attempt, cause)}
	}
}
