package manifests

import (
	"strings"
	"testing"
)

func TestEveryDocumentDecodesStrictly(t *testing.T) {
	objs, err := LoadDir(knativeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GVK.Kind]++
	}
	// The list of what config/knative must hold.
	for _, k := range []string{"Kustomization", "Component", "Namespace", "ServiceAccount", "Role", "RoleBinding",
		"ConfigMap", "Service", "Broker", "Trigger", "ApiServerSource", "PingSource", "NetworkPolicy"} {
		if kinds[k] == 0 {
			t.Errorf("config/knative has no %s", k)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown field", "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containerConcurency: 3\n", `unknown field "spec.template.spec.containerConcurency"`},
		{"misplaced field", "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: x}\nspec:\n  broker: b\n  prefix: {type: a}\n", `unknown field "spec.prefix"`},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  A: b\n  A: c\n", `already set`},
		{"wrong case", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nautomountServiceAccounttoken: false\n", `unknown field "automountServiceAccounttoken"`},
		{"wrong type", "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata: {name: x}\nspec:\n  schedule: 5\n", `schedule`},
		{"no kind", "apiVersion: v1\nmetadata: {name: x}\n", "no apiVersion or kind"},
		{"unregistered kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", "no Go type registered for apps/v1, Kind=Deployment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode("f.yaml:7", []byte(tc.doc))
			if err == nil {
				t.Fatal("decoded without error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "f.yaml:7: ") {
				t.Fatalf("error %q: want it to name f.yaml:7 and contain %q", err, tc.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		lines []int
	}{
		{"single", "a: 1\n", []int{1}},
		{"leading separator and comment-only doc", "# head\n---\na: 1\n---\n# only a comment\n---\nb: 2\n", []int{3, 7}},
		{"separator with comment, CRLF", "a: 1\r\n--- # next\r\nb: 2\r\n", []int{1, 3}},
		{"indented dashes are content", "a: |\n  ---\n", []int{1}},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := Split([]byte(tc.in))
			var lines []int
			for _, d := range docs {
				lines = append(lines, d.Line)
			}
			if len(lines) != len(tc.lines) {
				t.Fatalf("lines %v, want %v", lines, tc.lines)
			}
			for i := range lines {
				if lines[i] != tc.lines[i] {
					t.Fatalf("lines %v, want %v", lines, tc.lines)
				}
			}
		})
	}
}

// FuzzSplit: documents come out in order, within the input, with content,
// and together they hold every non-separator byte of the input.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"a: 1\n---\nb: 2\n", "---\n---\n", "# x\n--- #y\nz: 1", "a: |\n  ---\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		docs := Split([]byte(in))
		total := strings.Count(in, "\n") + 1
		last, kept := 0, 0
		for _, d := range docs {
			if d.Line <= last || d.Line > total {
				t.Fatalf("line %d after %d (input has %d lines)", d.Line, last, total)
			}
			if !hasContent(d.Data) {
				t.Fatalf("document at line %d has no content", d.Line)
			}
			last = d.Line
			kept += len(d.Data)
		}
		if kept > len(in) {
			t.Fatalf("documents hold %d bytes of a %d-byte input", kept, len(in))
		}
	})
}

// FuzzDecode: any input decodes or fails with an error naming the source;
// it never panics.
func FuzzDecode(f *testing.F) {
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	f.Add("apiVersion: sources.knative.dev/v1\nkind: PingSource\nspec: {schedule: '* * * * *'}\n")
	f.Add("kind: [")
	f.Fuzz(func(t *testing.T, doc string) {
		o, err := Decode("src", []byte(doc))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "src: ") {
				t.Fatalf("error %q does not name its source", err)
			}
			return
		}
		if o.Typed == nil || o.GVK.Kind == "" {
			t.Fatalf("decoded %q into %+v", doc, o)
		}
	})
}
