package testbed

import (
	"strings"
	"testing"
)

func TestUnescapeMount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/var/lib/jek-realnode/kubelet", "/var/lib/jek-realnode/kubelet"},
		{`/a\040b`, "/a b"},
		{`/tab\011x\012y`, "/tab\tx\ny"},
		{`/back\134slash`, `/back\slash`},
		{`/short\04`, `/short\04`},
		{`/not\999octal`, `/not\999octal`},
		{`\`, `\`},
		{"", ""},
	} {
		if got := unescapeMount(tc.in); got != tc.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzUnescapeMount(f *testing.F) {
	for _, s := range []string{"/a\\040b", "/plain", "\\", "\\0", "\\777", "\\1341"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := unescapeMount(s)
		if len(got) > len(s) {
			t.Fatalf("unescapeMount(%q) = %q grew", s, got)
		}
		if !strings.Contains(s, `\`) && got != s {
			t.Fatalf("unescapeMount(%q) = %q changed a string without escapes", s, got)
		}
	})
}
