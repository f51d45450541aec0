package yamlnode

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSyntaxError(t *testing.T) {
	for _, tc := range []struct {
		err     string
		line    int
		wantMsg string
	}{
		{"yaml: line 3: mapping values are not allowed in this context", 3, "mapping values are not allowed in this context"},
		{"yaml: unknown anchor 'x' referenced", 1, "unknown anchor 'x' referenced"},
		{"yaml: line 0: did not find expected key", 1, "did not find expected key"},
		{"yaml: line 99999999999999999999: overflow", 1, "overflow"},
		{"yaml: line 2: yaml: nested prefix", 2, "nested prefix"},
		{"something else", 1, "something else"},
	} {
		line, msg := SyntaxError(errors.New(tc.err))
		if line != tc.line || msg != tc.wantMsg {
			t.Errorf("SyntaxError(%q) = %d, %q; want %d, %q", tc.err, line, msg, tc.line, tc.wantMsg)
		}
	}
}

// TestSyntaxErrorOfDecoder pins the message format of the yaml.v3 we build
// with: if it stops starting with "yaml: line N:", errors lose their line.
func TestSyntaxErrorOfDecoder(t *testing.T) {
	var n yaml.Node
	err := yaml.Unmarshal([]byte("a: 1\nb: [\n"), &n)
	if err == nil {
		t.Fatal("no error for an unclosed list")
	}
	if line, msg := SyntaxError(err); line != 2 || strings.HasPrefix(msg, "yaml:") {
		t.Errorf("SyntaxError(%q) = %d, %q; want line 2 and the message alone", err, line, msg)
	}
}

func FuzzSyntaxError(f *testing.F) {
	f.Add("yaml: line 3: mapping values are not allowed in this context")
	f.Add("yaml: line -1: x")
	f.Add("yaml: ")
	f.Fuzz(func(t *testing.T, s string) {
		line, msg := SyntaxError(errors.New(s))
		if line < 1 {
			t.Errorf("SyntaxError(%q) line = %d, want >= 1", s, line)
		}
		if len(msg) > len(s) {
			t.Errorf("SyntaxError(%q) message %q is longer than the error", s, msg)
		}
	})
}

func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0].Content[1] // the value of the single key
}

func TestDescribeAndIsNull(t *testing.T) {
	for _, tc := range []struct {
		src, want string
		null      bool
	}{
		{"k: {a: 1}", "a mapping", false},
		{"k: [1]", "a list", false},
		{"k:", "null", true},
		{"k: ~", "null", true},
		{"k: null", "null", true},
		{`k: "1"`, `"1"`, false},
		{"k: abc", `"abc"`, false},
		{"k: 1", "1", false},
		{"k: true", "true", false},
		{"k: 2001-12-14", `"2001-12-14"`, false},
		{"k: !!binary aGk=", `"aGk="`, false},
		{"a: &x 1\nk: *x", "an alias", false},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.src), &doc); err != nil {
			t.Fatal(err)
		}
		m := doc.Content[0]
		n := m.Content[len(m.Content)-1]
		if got := Describe(n); got != tc.want {
			t.Errorf("Describe(%q) = %s, want %s", tc.src, got, tc.want)
		}
		if got := IsNull(n); got != tc.null {
			t.Errorf("IsNull(%q) = %v, want %v", tc.src, got, tc.null)
		}
	}
	if !IsNull(nil) {
		t.Error("IsNull(nil) = false")
	}
}

func TestResolve(t *testing.T) {
	n := node(t, "k: &x [1]")
	alias := &yaml.Node{Kind: yaml.AliasNode, Alias: &yaml.Node{Kind: yaml.AliasNode, Alias: n}}
	if Resolve(alias) != n || Resolve(n) != n || Resolve(nil) != nil {
		t.Error("Resolve does not follow aliases to the node")
	}
}

func TestJoinPath(t *testing.T) {
	for _, tc := range []struct{ base, field, want string }{
		{"", "", ""},
		{"", "a", "a"},
		{"a", "", "a"},
		{"a", "b", "a.b"},
		{"a", "[0]", "a[0]"},
		{"a.b", `["k"]`, `a.b["k"]`},
	} {
		if got := JoinPath(tc.base, tc.field); got != tc.want {
			t.Errorf("JoinPath(%q, %q) = %q, want %q", tc.base, tc.field, got, tc.want)
		}
	}
}
