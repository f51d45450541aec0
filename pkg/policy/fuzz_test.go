package policy

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
)

// FuzzGlob checks that compiling never panics and that `*` never crosses a
// `/`: without `**`, a match has exactly as many segments as the pattern.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"ghcr.io/acme/*", "ghcr.io/acme/evil/miner"},
		{"ghcr.io/**/tool", "ghcr.io/a/b/tool"},
		{"*.gcr.io", "eu.gcr.io"},
		{"**", "a/b"},
		{"a/**", "a"},
		{"team-*", "team-a"},
		{"a**b", "ab"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		g, err := compileGlob(pattern)
		if err != nil {
			return
		}
		if g.match(s) && !strings.Contains(pattern, "**") && strings.Count(s, "/") != strings.Count(pattern, "/") {
			t.Fatalf("%q matched %q across a /", pattern, s)
		}
	})
}

// FuzzImagePattern checks that image patterns and references never panic
// and that a pattern written as a reference matches that reference.
func FuzzImagePattern(f *testing.F) {
	for _, s := range []string{"alpine", "alpine:3.20", "ghcr.io/acme/tool@sha256:" + hex64, "localhost:5000/a/b:c", "docker.io/library/x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		img, err := ParseImage(ref)
		if err != nil {
			return
		}
		if img.Repository == "" || img.Registry == "" || !strings.HasPrefix(img.Repository, img.Registry+"/") {
			t.Fatalf("%q: bad normalisation %+v", ref, img)
		}
		again, err := ParseImage(img.String())
		if err != nil || again.String() != img.String() {
			t.Fatalf("%q: canonical form %q does not round-trip (%v)", ref, img.String(), err)
		}
		p, err := compileImagePattern(img.String())
		if err != nil {
			return // references may use characters patterns refuse, e.g. uppercase tags are fine but checked
		}
		if !p.match(img) {
			t.Fatalf("pattern %q does not match its own reference", img.String())
		}
	})
}

// FuzzParse checks that the policy parser never panics and that every
// error is located.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example))
	f.Add(catalog)
	f.Add("apiVersion: v1\nimages: {allow: [a], deny: ['**:latest'], registries: [ghcr.io]}\n")
	f.Add("apiVersion: v1\nnamespaces: &a [x]\nserviceAccounts: *a\n")
	f.Add("apiVersion: v1\nlimits: {eventBytes: -1}\n")
	f.Add("apiVersion: v1\nimages:\n  signatures:\n    - images: [a/**]\n      identities: [{issuerRegExp: 'https://.*', subject: a@b}]\n      trustedRoot: {configMap: {name: r}}\n      transparencyLog: optional\n")
	f.Add("apiVersion: v1\nimages:\n  signatures:\n    - images: [a/**]\n      identities: [{issuer: i, subjectRegExp: '(a'}]\n      trustedRoot: {tuf: {mirror: 'https://m', root: testdata/example.yaml}}\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, data string) {
		p, err := Parse("policy.yaml", []byte(data), WithSecrets(&secretStore{}))
		if err == nil {
			if p == nil {
				t.Fatal("nil policy without error")
			}
			return
		}
		var list jobconfig.ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("error is not an ErrorList: %v", err)
		}
		for _, e := range list {
			if e.Line < 1 || e.File != "policy.yaml" {
				t.Fatalf("unlocated error: %+v", e)
			}
			if strings.Contains(e.Message, "internal error") {
				t.Fatalf("parser panicked: %v", e)
			}
		}
	})
}
