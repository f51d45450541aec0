package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGlobStarNeverCrossesSlash(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"ghcr.io/acme/*", []string{"ghcr.io/acme/tool", "ghcr.io/acme/"}, []string{"ghcr.io/acme/evil/miner", "ghcr.io/acme", "ghcr.io/acmex/tool"}},
		{"ghcr.io/acme/**", []string{"ghcr.io/acme/tool", "ghcr.io/acme/a/b/c"}, []string{"ghcr.io/acme", "ghcr.io/acmex/tool", "ghcr.io/acme/"}},
		{"ghcr.io/**/tool", []string{"ghcr.io/tool", "ghcr.io/a/tool", "ghcr.io/a/b/tool"}, []string{"ghcr.io/a/tool2", "ghcr.io/atool"}},
		{"**/alpine", []string{"index.docker.io/library/alpine", "alpine"}, []string{"index.docker.io/library/alpine2"}},
		{"**", []string{"", "a", "a/b/c"}, nil},
		{"*.gcr.io", []string{"eu.gcr.io", "x.y.gcr.io"}, []string{"gcr.io", "eu.gcr.io/x"}},
		{"team-*", []string{"team-a", "team-"}, []string{"team", "xteam-a", "team-a/b"}},
		{"1.*", []string{"1.2", "1."}, []string{"11.2", "2.1"}},
		{"a.b", []string{"a.b"}, []string{"axb"}}, // '.' is literal, not a regexp dot
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			g, err := compileGlob(tt.pattern)
			require.NoError(t, err)
			for _, s := range tt.match {
				assert.True(t, g.match(s), "%q should match %q", tt.pattern, s)
			}
			for _, s := range tt.noMatch {
				assert.False(t, g.match(s), "%q should not match %q", tt.pattern, s)
			}
		})
	}
}

func TestGlobRefusesOtherWildcards(t *testing.T) {
	for _, p := range []string{"", "a?", "a[bc]", "a{b,c}", "a/**b", "a**/b", "a b", "a\\*"} {
		_, err := compileGlob(p)
		assert.Error(t, err, "%q", p)
	}
}

func TestParseImageNormalises(t *testing.T) {
	tests := []struct {
		ref                         string
		registry, repo, tag, digest string
	}{
		{"alpine", "index.docker.io", "index.docker.io/library/alpine", "latest", ""},
		{"docker.io/alpine:3.20", "index.docker.io", "index.docker.io/library/alpine", "3.20", ""},
		{"docker.io/library/alpine:3.20", "index.docker.io", "index.docker.io/library/alpine", "3.20", ""},
		{"acme/tool:1", "index.docker.io", "index.docker.io/acme/tool", "1", ""},
		{"ghcr.io/acme/tool", "ghcr.io", "ghcr.io/acme/tool", "latest", ""},
		{"localhost:5000/tool:v1", "localhost:5000", "localhost:5000/tool", "v1", ""},
		{"ghcr.io/acme/tool@sha256:" + hex64, "ghcr.io", "ghcr.io/acme/tool", "", "sha256:" + hex64},
		{"ghcr.io/acme/tool:1.0@sha256:" + hex64, "ghcr.io", "ghcr.io/acme/tool", "1.0", "sha256:" + hex64},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			img, err := ParseImage(tt.ref)
			require.NoError(t, err)
			assert.Equal(t, tt.registry, img.Registry)
			assert.Equal(t, tt.repo, img.Repository)
			assert.Equal(t, tt.tag, img.Tag)
			assert.Equal(t, tt.digest, img.Digest)
		})
	}
}

func TestParseImageRefusesInvalid(t *testing.T) {
	for _, ref := range []string{"", "UPPER/case", "a@sha256:short", "a@@b", "a:tag with space", "ghcr.io/x:"} {
		_, err := ParseImage(ref)
		assert.Error(t, err, "%q", ref)
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestImagePatternMatchesRepositoryTagAndDigest(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		// A bare name means the official image, like a reference does.
		{"alpine", []string{"alpine", "alpine:3", "docker.io/library/alpine@sha256:" + hex64}, []string{"acme/alpine", "ghcr.io/library/alpine"}},
		{"docker.io/*/*", []string{"alpine", "acme/tool"}, []string{"ghcr.io/acme/tool", "docker.io/a/b/c"}},
		{"docker.io/library/*", []string{"alpine", "busybox:1"}, []string{"acme/tool"}},
		{"ghcr.io/acme/**", []string{"ghcr.io/acme/a", "ghcr.io/acme/a/b:1"}, []string{"ghcr.io/acme", "ghcr.io/acme-evil/a"}},
		{"alpine:3.*", []string{"alpine:3.20"}, []string{"alpine", "alpine:latest", "alpine:30", "alpine@sha256:" + hex64}},
		{"**:latest", []string{"alpine", "ghcr.io/a/b:latest"}, []string{"alpine:3", "alpine@sha256:" + hex64}},
		{"ghcr.io/acme/tool@sha256:*", []string{"ghcr.io/acme/tool@sha256:" + hex64, "ghcr.io/acme/tool:1@sha256:" + hex64}, []string{"ghcr.io/acme/tool:1"}},
		{"localhost:5000/**", []string{"localhost:5000/a"}, []string{"localhost:5001/a"}},
		{"**", []string{"alpine", "ghcr.io/a/b@sha256:" + hex64}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := compileImagePattern(tt.pattern)
			require.NoError(t, err)
			for _, ref := range tt.match {
				img, err := ParseImage(ref)
				require.NoError(t, err)
				assert.True(t, p.match(img), "%q should match %q (%s)", tt.pattern, ref, img)
			}
			for _, ref := range tt.noMatch {
				img, err := ParseImage(ref)
				require.NoError(t, err)
				assert.False(t, p.match(img), "%q should not match %q (%s)", tt.pattern, ref, img)
			}
		})
	}
}

func TestImagePatternRefusesNonsense(t *testing.T) {
	// docker.io/* would match nothing: hub repositories have two segments.
	for _, p := range []string{"alpine:", "alpine@", "alpine:**", "alpine@abc", "a?b", "docker.io/*", "docker.io/*:1", "*", "*:latest", "ghcr.io"} {
		_, err := compileImagePattern(p)
		assert.Error(t, err, "%q", p)
	}
}
