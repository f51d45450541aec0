package keptnstandin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLayoutPath(t *testing.T) {
	tests := []struct {
		path    string
		want    location
		wantErr string
	}{
		{path: "project/p/resource/job/config.yaml", want: location{level: levelProject, project: "p", uri: "job/config.yaml"}},
		{path: "project/p/stage/s/resource/job/config.yaml", want: location{level: levelStage, project: "p", stage: "s", uri: "job/config.yaml"}},
		{path: "project/p/stage/s/service/v/resource/locust/basic.py", want: location{level: levelService, project: "p", stage: "s", service: "v", uri: "locust/basic.py"}},
		// A project-level file may itself live in a directory called stage.
		{path: "project/p/resource/stage/x", want: location{level: levelProject, project: "p", uri: "stage/x"}},
		{path: "project/p/stage/s/resource/service/v/resource/x", want: location{level: levelStage, project: "p", stage: "s", uri: "service/v/resource/x"}},
		{path: "project/p/resource", wantErr: "does not start with project/<p>/"},
		{path: "projects/p/resource/x", wantErr: "does not start with project/<p>/"},
		{path: "project/p/stage/s/x", wantErr: `found "stage" where "resource" belongs`},
		{path: "project/p/stage/s/service/v/x/y", wantErr: `found "x" where "resource" belongs`},
		{path: "project/p/resource/../x", wantErr: `segment 4 is ".."`},
		{path: "project/p/resource//x", wantErr: `segment 4 is ""`},
		{path: "/project/p/resource/x", wantErr: `segment 1 is ""`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := parseLayoutPath(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseLayoutPath(%q) error = %v, want one containing %q", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseLayoutPath(%q): %v", tt.path, err)
			}
			if got != tt.want {
				t.Errorf("parseLayoutPath(%q) = %+v, want %+v", tt.path, got, tt.want)
			}
			if got.key() != tt.path {
				t.Errorf("key() = %q, want the path back", got.key())
			}
		})
	}
}

func FuzzParseLayoutPath(f *testing.F) {
	for _, s := range []string{
		"project/p/resource/job/config.yaml",
		"project/p/stage/s/service/v/resource/a/b/c",
		"project/p/stage/s/resource/x",
		"project//resource/x",
		"project/p/stage/s/service/v/resource",
		"project/p/resource/..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		loc, err := parseLayoutPath(p)
		if err != nil {
			return
		}
		if loc.key() != p {
			t.Fatalf("parseLayoutPath(%q) = %+v, whose key is %q", p, loc, loc.key())
		}
		if loc.uri == "" || loc.project == "" || (loc.level >= levelStage && loc.stage == "") || (loc.level == levelService && loc.service == "") {
			t.Fatalf("parseLayoutPath(%q) = %+v has an empty part", p, loc)
		}
		if !strings.HasPrefix(p, loc.dir()) {
			t.Fatalf("parseLayoutPath(%q): dir %q is not a prefix", p, loc.dir())
		}
	})
}

func TestCommitIDs(t *testing.T) {
	files := map[string][]byte{"project/p/resource/a": []byte("1")}
	s1, s2 := newServer(t), newServer(t)
	a1, a2 := s1.Commit(files), s2.Commit(files)
	if a1 != a2 || len(a1) != 40 {
		t.Fatalf("same history gave commit IDs %q and %q; want equal 40-hex IDs", a1, a2)
	}
	if b := s1.Commit(files); b == a1 {
		t.Fatalf("a second commit of the same files reused ID %q", b)
	}
	if s1.Head() == a1 {
		t.Fatalf("Head() = first commit, want the newest")
	}
}

func TestCommitRejectsKeysOutsideTheLayout(t *testing.T) {
	s := newServer(t)
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, `"job/config.yaml"`) {
			t.Fatalf("Commit with a bad key panicked with %q; want a message naming the key", msg)
		}
	}()
	s.Commit(map[string][]byte{"job/config.yaml": nil})
}

func TestLoadDir(t *testing.T) {
	s := newServer(t)
	id, err := s.LoadDir("testdata/layout")
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := s.repo.snapshots("")
	if head.id != id || len(head.files) != 5 {
		t.Fatalf("LoadDir committed %d files as %s (head %s); want the 5 files of testdata/layout", len(head.files), id, head.id)
	}
	want, _ := os.ReadFile("testdata/layout/project/sockshop/stage/dev/resource/job/config.yaml")
	if got := head.files["project/sockshop/stage/dev/resource/job/config.yaml"]; string(got) != string(want) {
		t.Errorf("stage job/config.yaml = %q, want %q", got, want)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "stray.yaml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadDir(bad); err == nil || !strings.Contains(err.Error(), `"stray.yaml"`) {
		t.Fatalf("LoadDir of a directory outside the layout: error %v; want one naming stray.yaml", err)
	}
}

func TestPaginate(t *testing.T) {
	tests := []struct {
		total      int
		pageSize   int64
		key        string
		start, end int64
		next       string
	}{
		{total: 5, pageSize: 2, key: "", start: 0, end: 2, next: "2"},
		{total: 5, pageSize: 2, key: "2", start: 2, end: 4, next: "4"},
		{total: 5, pageSize: 2, key: "4", start: 4, end: 5, next: "0"},
		{total: 4, pageSize: 2, key: "2", start: 2, end: 4, next: "0"},
		{total: 0, pageSize: 20, key: "", start: 0, end: 0, next: "0"},
		{total: 3, pageSize: 20, key: "garbage", start: 0, end: 3, next: "0"},
		{total: 3, pageSize: 1, key: "9", start: 9, end: 3, next: "0"},
	}
	for _, tt := range tests {
		start, end, next := paginate(tt.total, tt.pageSize, tt.key)
		if start != tt.start || end != tt.end || next != tt.next {
			t.Errorf("paginate(%d, %d, %q) = %d, %d, %q; want %d, %d, %q", tt.total, tt.pageSize, tt.key, start, end, next, tt.start, tt.end, tt.next)
		}
	}
}

// newServer builds an unstarted server for tests that use its handler only.
func newServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := New(append(opts, WithTest(t))...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
