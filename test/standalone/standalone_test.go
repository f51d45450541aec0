package standalone

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// forbidden are references that only resolve on one machine: the developers'
// reading material next to the clone, and home or workspace directories.
// They are joined at run time so that this file does not match itself.
var forbidden = []string{
	".." + "/shared",
	"shared" + "/reference",
	"shared" + "/seed",
	"/" + "work/",
	"/" + "root/",
	"/" + "home/",
	"/" + "Users/",
	`C:\` + `Users`,
}

// mustScan are files the scan has to cover; a scan that misses them (an
// empty listing, a wrong root) fails instead of passing by accident.
var mustScan = []string{
	"README.md", "Makefile", "go.mod", "func.yaml", "Dockerfile", "LICENSE",
	"docs/jobctl.md", "test/go.mod", "test/keptnstandin/contract.go",
	"testdata/jobconfigs/hello-world.yaml", "test/standalone/standalone_test.go",
}

// TestNothingReferencesOutsideTheRepository reads every file of the
// repository (tracked, plus new files not ignored) and fails on any
// reference to a place outside it.
func TestNothingReferencesOutsideTheRepository(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := repositoryFiles(t, root)
	t.Logf("scanned %d files under %s:\n%s", len(files), root, strings.Join(files, "\n"))

	scanned := map[string]bool{}
	for _, f := range files {
		scanned[f] = true
	}
	for _, f := range mustScan {
		if !scanned[f] {
			t.Errorf("%s was not scanned: the listing is incomplete", f)
		}
	}
	if len(files) < 200 {
		t.Errorf("only %d files scanned; the repository has hundreds", len(files))
	}

	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, hit := range findForbidden(data) {
			t.Errorf("%s:%d: refers to %q outside the repository: %s", f, hit.line, hit.pattern, hit.text)
		}
	}
}

// TestFindForbidden shows the scan finds each forbidden reference and
// reports its line.
func TestFindForbidden(t *testing.T) {
	for _, p := range forbidden {
		doc := []byte("first line\nsee " + p + "x for details\n")
		hits := findForbidden(doc)
		if len(hits) != 1 || hits[0].line != 2 || hits[0].pattern != p {
			t.Errorf("pattern %q: got %+v, want one hit on line 2", p, hits)
		}
	}
	if hits := findForbidden([]byte("mount /tmp and /keptn; ../testdata/x\n")); len(hits) != 0 {
		t.Errorf("paths inside the repository or a container are fine, got %+v", hits)
	}
}

type hit struct {
	line    int
	pattern string
	text    string
}

func findForbidden(data []byte) []hit {
	var out []hit
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		for _, p := range forbidden {
			if strings.Contains(line, p) {
				out = append(out, hit{line: n, pattern: p, text: strings.TrimSpace(line)})
			}
		}
	}
	return out
}

// repositoryFiles lists the files git knows (tracked, or new and not
// ignored), relative to root; without git (a tarball) it walks the tree.
func repositoryFiles(t *testing.T, root string) []string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, ".git")); err == nil {
		out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
		if err != nil {
			t.Fatalf("git ls-files: %v", err)
		}
		var files []string
		for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
			// A file deleted in the work tree but not yet in the index.
			if _, err := os.Stat(filepath.Join(root, f)); err == nil {
				files = append(files, f)
			}
		}
		return files
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() && (rel == "bin" || strings.HasPrefix(d.Name(), ".")) && rel != "." {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
