package keptnstandin

import (
	"crypto/sha1" //nolint:gosec // G505: see commitID
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// The layout of files given to Commit and LoadDir mirrors the REST paths, so a
// project-level file and a stage-level file of the same name never collide:
//
//	project/<p>/resource/<uri>
//	project/<p>/stage/<s>/resource/<uri>
//	project/<p>/stage/<s>/service/<v>/resource/<uri>
//
// <uri> may hold '/' (job/config.yaml). A project, stage or service exists
// when the newest commit holds at least one file below its directory.

// location is a parsed layout path.
type location struct {
	level                   level
	project, stage, service string
	uri                     string // unescaped, may contain '/'
}

// dir is the layout directory of the location's entity, ending in '/'.
func (l location) dir() string {
	d := "project/" + l.project + "/"
	if l.level >= levelStage {
		d += "stage/" + l.stage + "/"
	}
	if l.level == levelService {
		d += "service/" + l.service + "/"
	}
	return d
}

// key is the layout path of the location.
func (l location) key() string { return l.dir() + "resource/" + l.uri }

// parseLayoutPath takes apart a slash-separated layout path.
func parseLayoutPath(p string) (location, error) {
	seg := strings.Split(p, "/")
	for i, s := range seg {
		if s == "" || s == "." || s == ".." {
			return location{}, fmt.Errorf("layout path %q: segment %d is %q; want project/<p>[/stage/<s>[/service/<v>]]/resource/<file>", p, i+1, s)
		}
	}
	if len(seg) < 4 || seg[0] != "project" {
		return location{}, fmt.Errorf("layout path %q does not start with project/<p>/", p)
	}
	loc := location{project: seg[1]}
	rest := seg[2:]
	if rest[0] == "stage" && len(rest) >= 4 {
		loc.level, loc.stage, rest = levelStage, rest[1], rest[2:]
		if rest[0] == "service" && len(rest) >= 4 {
			loc.level, loc.service, rest = levelService, rest[1], rest[2:]
		}
	}
	if rest[0] != "resource" || len(rest) < 2 {
		return location{}, fmt.Errorf("layout path %q: want project/<p>[/stage/<s>[/service/<v>]]/resource/<file>, found %q where \"resource\" belongs", p, rest[0])
	}
	loc.uri = strings.Join(rest[1:], "/")
	return loc, nil
}

// commit is a full snapshot of every file, keyed by layout path.
type commit struct {
	id    string
	files map[string][]byte
}

// repository is the ordered list of commits the stand-in serves.
type repository struct {
	mu      sync.RWMutex
	commits []commit
}

// Commit adds a snapshot of files, keyed by layout path (see the package
// documentation), and returns its commit ID. The ID is a SHA-1 over the parent
// ID and the files, so the same history gives the same IDs in every run. A key
// outside the layout is a bug in the test and panics, naming the key.
func (s *Server) Commit(files map[string][]byte) string {
	id, err := s.repo.commit(files)
	if err != nil {
		panic("keptnstandin: Commit: " + err.Error())
	}
	return id
}

// LoadDir commits the regular files below root, a directory in the layout
// (see the package documentation), as one snapshot and returns its commit ID.
// Directories named .git are skipped.
func (s *Server) LoadDir(root string) (string, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("loading layout directory %s: %w", root, err)
	}
	id, err := s.repo.commit(files)
	if err != nil {
		return "", fmt.Errorf("loading layout directory %s: %w", root, err)
	}
	return id, nil
}

// Head returns the newest commit ID, or "" before the first commit.
func (s *Server) Head() string {
	s.repo.mu.RLock()
	defer s.repo.mu.RUnlock()
	if len(s.repo.commits) == 0 {
		return ""
	}
	return s.repo.commits[len(s.repo.commits)-1].id
}

func (r *repository) commit(files map[string][]byte) (string, error) {
	snapshot := make(map[string][]byte, len(files))
	for p, data := range files {
		loc, err := parseLayoutPath(p)
		if err != nil {
			return "", err
		}
		snapshot[loc.key()] = slices.Clone(data)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	parent := ""
	if len(r.commits) > 0 {
		parent = r.commits[len(r.commits)-1].id
	}
	c := commit{id: commitID(parent, snapshot), files: snapshot}
	r.commits = append(r.commits, c)
	return c.id, nil
}

func commitID(parent string, files map[string][]byte) string {
	h := sha1.New() //nolint:gosec // G401: a Git-style commit id, as Keptn's resource-service gives; nothing is signed
	fmt.Fprintf(h, "parent %s\n", parent)
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(files[k]))
		h.Write(files[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// snapshots returns the newest commit and the one named id ("" for the
// newest). found is false when id names no commit.
func (r *repository) snapshots(id string) (head, at commit, found bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.commits) == 0 {
		return commit{}, commit{}, id == ""
	}
	head = r.commits[len(r.commits)-1]
	if id == "" {
		return head, head, true
	}
	for _, c := range r.commits {
		if c.id == id {
			return head, c, true
		}
	}
	return head, commit{}, false
}

// hasDir reports whether the commit holds a file below the layout directory.
func (c commit) hasDir(dir string) bool {
	for k := range c.files {
		if strings.HasPrefix(k, dir) {
			return true
		}
	}
	return false
}

// filesIn returns the resource URIs of a layout directory in the order of
// Keptn's directory walk: name by name, so job/config.yaml precedes job-x.yaml.
func (c commit) filesIn(dir string) []string {
	prefix := dir + "resource/"
	var uris []string
	for k := range c.files {
		if uri, ok := strings.CutPrefix(k, prefix); ok {
			uris = append(uris, uri)
		}
	}
	slices.SortFunc(uris, func(a, b string) int {
		return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
	})
	return uris
}

// metadataFile is the file Keptn keeps at every level of a project (its
// project, stage or service metadata); listings hold it.
const metadataFile = "metadata.yaml"

// metadata is what the stand-in serves as a level's metadata.yaml when the
// repository does not hold one.
func (l location) metadata() []byte {
	switch l.level {
	case levelService:
		return []byte("servicename: " + l.service + "\n")
	case levelStage:
		return []byte("stagename: " + l.stage + "\n")
	}
	return []byte("projectname: " + l.project + "\n")
}

// stageServiceFile maps a stage-level URI "<service>/<path>" to that
// service's file: in Keptn a stage is a branch, and its services are
// folders of it.
func (c commit) stageServiceFile(l location) (location, bool) {
	if l.level != levelStage {
		return location{}, false
	}
	svc, rest, ok := strings.Cut(l.uri, "/")
	if !ok {
		return location{}, false
	}
	sl := location{level: levelService, project: l.project, stage: l.stage, service: svc, uri: rest}
	if !c.hasDir(sl.dir()) {
		return location{}, false
	}
	return sl, true
}

// file reads the file at l as Keptn's resource-service finds it: the
// level's own files, its metadata.yaml, and at stage level the services'
// files below "<service>/".
func (c commit) file(l location) ([]byte, bool) {
	if data, ok := c.files[l.key()]; ok {
		return data, true
	}
	if sl, ok := c.stageServiceFile(l); ok {
		return c.file(sl)
	}
	if l.uri == metadataFile && c.hasDir(l.dir()) {
		return l.metadata(), true
	}
	return nil, false
}

// listing is a level's listing as Keptn's walk of the level's folder gives
// it: its files and metadata.yaml, and at stage level every service's
// files (and metadata.yaml) below "<service>/".
func (c commit) listing(l location) []string {
	uris := c.filesIn(l.dir())
	if !slices.Contains(uris, metadataFile) {
		uris = append(uris, metadataFile)
	}
	if l.level == levelStage {
		prefix := l.dir() + "service/"
		seen := map[string]bool{}
		for k := range c.files {
			rest, ok := strings.CutPrefix(k, prefix)
			if !ok {
				continue
			}
			svc, _, _ := strings.Cut(rest, "/")
			if seen[svc] {
				continue
			}
			seen[svc] = true
			sl := location{level: levelService, project: l.project, stage: l.stage, service: svc}
			for _, u := range c.listing(sl) {
				uris = append(uris, svc+"/"+u)
			}
		}
	}
	slices.SortFunc(uris, func(a, b string) int {
		return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
	})
	return uris
}
