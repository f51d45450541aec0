package resources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
)

// DirSource serves resources from a local directory laid out like the REST
// paths, for development and the demo (test/keptnstandin uses the same
// layout):
//
//	<root>/project/<p>/resource/<uri>
//	<root>/project/<p>/stage/<s>/resource/<uri>
//	<root>/project/<p>/stage/<s>/service/<v>/resource/<uri>
//
// There is no git history: gitCommitID is ignored and Resource.Version is
// empty. All access goes through an os.Root, so neither a URI nor a symlink
// inside the tree can reach files outside root.
type DirSource struct {
	root string
}

var (
	_ ResourceGetter = (*DirSource)(nil)
	_ ResourceLister = (*DirSource)(nil)
)

// NewDirSource checks that root is a directory.
func NewDirSource(root string) (*DirSource, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("resource directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("resource directory %s is not a directory", root)
	}
	return &DirSource{root: root}, nil
}

// levelDir is the slash-separated directory of a level, relative to root.
func levelDir(s Scope) string {
	p := path.Join("project", s.Project)
	if s.Stage != "" {
		p = path.Join(p, "stage", s.Stage)
		if s.Service != "" {
			p = path.Join(p, "service", s.Service)
		}
	}
	return path.Join(p, "resource")
}

// GetResource reads <level>/resource/<uri>. A missing file, a directory or a
// missing level are ErrNotFound; a symlink that leaves root is an error.
func (d *DirSource) GetResource(ctx context.Context, s Scope, uri, _ string) (*Resource, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	clean, err := CleanURI(uri)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, fmt.Errorf("resource directory: %w", err)
	}
	defer root.Close()
	name := path.Join(levelDir(s), clean)
	data, err := root.ReadFile(name)
	switch {
	case err == nil:
		return &Resource{URI: clean, Content: data}, nil
	case errors.Is(err, fs.ErrNotExist), isDirError(root, name):
		return nil, fmt.Errorf("get resource %q of %s from %s: %w", clean, s, d.root, ErrNotFound)
	default:
		return nil, fmt.Errorf("get resource %q of %s from %s: %w", clean, s, d.root, err)
	}
}

func isDirError(root *os.Root, name string) bool {
	st, err := root.Stat(name)
	return err == nil && st.IsDir()
}

// ListResources walks the level's resource directory and returns every
// regular file (and symlink, which GetResource then resolves inside root) as
// a slash-separated URI, sorted. A missing level is ErrNotFound, like Keptn's
// "Service not found".
func (d *DirSource) ListResources(ctx context.Context, s Scope, _ string) ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, fmt.Errorf("resource directory: %w", err)
	}
	defer root.Close()
	dir := levelDir(s)
	var out []string
	err = fs.WalkDir(root.FS(), dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == dir && !e.IsDir() {
			return fs.ErrNotExist // the level is a file, not a directory
		}
		if !e.IsDir() {
			out = append(out, p[len(dir)+1:])
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list resources of %s in %s: %w", s, d.root, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("list resources of %s in %s: %w", s, d.root, err)
	}
	sort.Strings(out)
	return out, nil
}
