// Package design_test enforces the package boundaries docs/design.md
// documents, so the layout cannot drift from the page that explains it.
package design_test

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/keptn-sandbox/job-executor-knative"

// floors is docs/design.md's table: a package may import only packages on
// lower floors. A new package fails the test until it is placed here and in
// the page.
var floors = map[string]int{
	"pkg/yamlnode":                0,
	"pkg/permanent":               0,
	"pkg/logctx":                  0,
	"pkg/claim":                   0,
	"pkg/claim/claimtest":         0,
	"pkg/serve":                   0,
	"pkg/wake":                    0,
	"pkg/coldstart":               0,
	"pkg/podsecurity":             0,
	"pkg/policy/policytest":       0,
	"pkg/jobconfig/jobconfigtest": 0,
	"pkg/telemetry/telemetrytest": 0,
	"pkg/keptn":                   1,
	"pkg/resources":               1,
	"pkg/generic":                 2,
	"pkg/jobconfig":               2,
	"pkg/sink":                    2,
	"pkg/jobs":                    3,
	"pkg/policy":                  4,
	"pkg/verdict":                 4,
	"pkg/verdict/verdicttest":     4,
	"pkg/finished":                5,
	"pkg/reporter":                6,
	"pkg/telemetry":               4,
	"pkg/launch":                  7,
	"function":                    8,
	"initcontainer":               9,
	"cmd/function":                9,
	"cmd/jobctl":                  9,
}

// pure packages do no I/O of their own: the same input gives the same
// output, which is what makes a redelivered event harmless.
var pure = []string{"pkg/yamlnode", "pkg/podsecurity", "pkg/claim", "pkg/jobconfig", "pkg/jobs", "pkg/verdict", "pkg/finished", "pkg/generic"}

// io are the imports a pure package may not have.
var ioImports = []string{"os", "net", "net/http", "k8s.io/client-go/"}

// noIO are the exceptions under ioImports: client-go's retry only calls
// the caller's function again, after a pause, and does no I/O itself.
var noIO = map[string]bool{"k8s.io/client-go/util/retry": true}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Imports,Deps", "./...").Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	}
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		p.ImportPath = strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < len(floors) {
		t.Fatalf("go list found %d packages, the table has %d", len(pkgs), len(floors))
	}
	return pkgs
}

func TestImportsGoDownTheFloors(t *testing.T) {
	for _, p := range list(t) {
		if p.ImportPath == "" {
			continue // this test's own package
		}
		floor, ok := floors[p.ImportPath]
		if !ok {
			t.Errorf("%s is not in docs/design.md's table of floors (and this test's)", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			rel, ours := strings.CutPrefix(imp, module+"/")
			if !ours {
				continue
			}
			if f, known := floors[rel]; known && f >= floor {
				t.Errorf("%s (floor %d) imports %s (floor %d): imports go down only", p.ImportPath, floor, rel, f)
			}
			if strings.HasSuffix(rel, "test") && !strings.HasSuffix(p.ImportPath, "test") {
				t.Errorf("%s imports the test helper %s outside a test", p.ImportPath, rel)
			}
		}
	}
}

func TestPurePackagesDoNoIO(t *testing.T) {
	byPath := map[string]pkg{}
	for _, p := range list(t) {
		byPath[p.ImportPath] = p
	}
	for _, name := range pure {
		p, ok := byPath[name]
		if !ok {
			t.Errorf("pure package %s not found", name)
			continue
		}
		for _, imp := range p.Imports {
			if noIO[imp] {
				continue
			}
			for _, bad := range ioImports {
				if imp == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(imp, bad)) {
					t.Errorf("%s is pure (docs/design.md) but imports %s", name, imp)
				}
			}
		}
	}
}

// TestFetcherCarriesNoKubernetesClient: the fetcher runs in every Job's pod
// with the Keptn token, so it stays small: no Kubernetes libraries at all,
// and not go-utils either (its event types pull in go-openapi, logrus and
// Keptn's API clients: +23 % when the fetcher shared pkg/keptn with them).
func TestFetcherCarriesNoKubernetesClient(t *testing.T) {
	for _, p := range list(t) {
		if p.ImportPath != "initcontainer" {
			continue
		}
		if len(p.Deps) == 0 {
			t.Fatal("go list gave initcontainer no dependencies")
		}
		for _, d := range p.Deps {
			if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "sigs.k8s.io/") || strings.HasPrefix(d, "github.com/keptn/go-utils/") {
				t.Errorf("initcontainer depends on %s", d)
			}
		}
		return
	}
	t.Fatal("initcontainer not found")
}

// productFiles are the non-test Go files of the product module (test/ is
// another module).
func productFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (path == "test" || strings.HasPrefix(d.Name(), ".") && path != "."):
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go"):
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no product files found")
	}
	return files
}

// eventTypeHomes is where each family of event type is spelled: one place
// each, so a renamed type cannot leave a stale copy behind.
var eventTypeHomes = map[string]string{
	"sh.keptn.":    "pkg/keptn/",
	"dev.knative.": "pkg/reporter/",
}

// inspectProduct calls visit on every node of every product file.
func inspectProduct(t *testing.T, visit func(fset *token.FileSet, path string, n ast.Node)) {
	t.Helper()
	fset := token.NewFileSet()
	for _, path := range productFiles(t) {
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			visit(fset, path, n)
			return true
		})
	}
}

func TestEventTypesAreSpelledInOnePlace(t *testing.T) {
	inspectProduct(t, func(fset *token.FileSet, path string, n ast.Node) {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return
		}
		// A literal that starts with a type is one in use; help texts
		// that name a type in prose are documentation, and the bare
		// namespace names a family, not a type (pkg/generic reserves
		// Knative's).
		v := strings.Trim(lit.Value, "`\"")
		for family, home := range eventTypeHomes {
			if strings.HasPrefix(v, family) && v != family && !strings.HasPrefix(filepath.ToSlash(path), home) {
				t.Errorf("%s: %s spells an event type; use the constants of %s", fset.Position(lit.Pos()), lit.Value, home)
			}
		}
	})
}

// maxFuncLines bounds a product function, counted from `func` to its
// closing brace: a longer one does several things, each of which deserves
// a name.
const maxFuncLines = 80

func TestNoProductFunctionIsOver80Lines(t *testing.T) {
	inspectProduct(t, func(fset *token.FileSet, _ string, n ast.Node) {
		var body *ast.BlockStmt
		switch fn := n.(type) {
		case *ast.FuncDecl:
			body = fn.Body
		case *ast.FuncLit:
			body = fn.Body
		}
		if body == nil {
			return
		}
		from, to := fset.Position(n.Pos()), fset.Position(body.Rbrace)
		if lines := to.Line - from.Line + 1; lines > maxFuncLines {
			t.Errorf("%s: function is %d lines, at most %d", from, lines, maxFuncLines)
		}
	})
}

// TestProductHoldsNoClientset: reflection on methods is reachable in the
// function (JSONPath's gval, text/template), so the linker keeps every
// method of a type held in an interface; a *kubernetes.Clientset held in one
// (kubernetes.Interface) links the client of every API group, 8 MB of
// binary and resident memory on every cold start (docs/benchmarks.md,
// "Scale from zero"). Product code uses the typed clients of the groups it
// needs (function/kube.go).
func TestProductHoldsNoClientset(t *testing.T) {
	fset := token.NewFileSet()
	for _, path := range productFiles(t) {
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"k8s.io/client-go/kubernetes"` {
				t.Errorf("%s: imports the whole clientset; use the typed clients of the groups needed", fset.Position(imp.Pos()))
			}
		}
	}
}
