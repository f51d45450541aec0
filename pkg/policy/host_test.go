package policy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io":                     "ghcr.io",
		"GHCR.IO":                     "ghcr.io",
		"ghCr.io":                     "ghcr.io",
		"ghcr.io:443":                 "ghcr.io",
		"ghcr.io.":                    "ghcr.io",
		"ghcr.io.:443":                "ghcr.io",
		"docker.io":                   "index.docker.io",
		"docker.io:443":               "index.docker.io",
		"index.docker.io:443":         "index.docker.io",
		"registry-1.docker.io":        "index.docker.io",
		"Registry.Hub.Docker.com":     "index.docker.io",
		"docker.io:5000":              "docker.io:5000",
		"localhost:5000":              "localhost:5000",
		"LOCALHOST":                   "localhost",
		"127.0.0.1:5000":              "127.0.0.1:5000",
		"[::1]:5000":                  "[::1]:5000",
		"[::1]:443":                   "[::1]",
		"*.pkg.dev":                   "*.pkg.dev",
		"europe-west1-docker.pkg.dev": "europe-west1-docker.pkg.dev",
	} {
		assert.Equal(t, want, NormalizeHost(in), in)
	}
}

// The probe's spellings (issue 16, point 6): each names a denied image.
func TestDenyHoldsForEverySpelling(t *testing.T) {
	p := parsePolicy(t, "apiVersion: v1\nimages:\n  deny: [ghcr.io/evil/**, docker.io/evil/**]\n")
	for _, ref := range []string{
		"ghcr.io/evil/miner:1",
		"GHCR.IO/evil/miner:1",
		"ghCr.io/evil/miner:1",
		"ghcr.io:443/evil/miner:1",
		"ghcr.io./evil/miner:1",
		"evil/miner:1",
		"docker.io/evil/miner:1",
		"index.docker.io:443/evil/miner:1",
		"registry-1.docker.io/evil/miner:1",
		"docker.io:443/evil/miner:1",
		"registry.hub.docker.com/evil/miner@sha256:" + hex64,
	} {
		_, refused := p.checkImage(ref, false)
		if assert.NotNil(t, refused, ref) {
			assert.Contains(t, refused.Reason, "deny pattern", ref)
		}
	}
	_, refused := p.checkImage("ghcr.io/good/tool:1", false)
	assert.Nil(t, refused)
}

// Registries and allow rules read every spelling alike too.
func TestAllowAndRegistriesHoldForEverySpelling(t *testing.T) {
	p := parsePolicy(t, "apiVersion: v1\nimages:\n  registries: [GHCR.io, registry-1.docker.io]\n  allow: [ghcr.io/acme/**, DOCKER.IO/library/alpine:3.*]\n")
	for _, ref := range []string{"ghcr.io:443/acme/tool:1", "alpine:3.20", "registry-1.docker.io/alpine:3.20", "Docker.IO./library/alpine:3.20"} {
		_, refused := p.checkImage(ref, false)
		assert.Nil(t, refused, ref)
	}
	for _, ref := range []string{"ghcr.io:8443/acme/tool:1", "quay.io/acme/tool:1", "alpine:latest"} {
		_, refused := p.checkImage(ref, false)
		assert.NotNil(t, refused, ref)
	}
}

// respell writes ref's host as bits choose: case of each letter, a
// trailing dot, :443, and (for Docker Hub) which of its names.
func respell(host, path string, bits uint64) string {
	if host == "docker.io" {
		aliases := []string{"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", ""}
		host = aliases[bits%uint64(len(aliases))]
		bits /= uint64(len(aliases))
		if host == "" {
			return path // no host at all: Docker Hub
		}
	}
	var b strings.Builder
	for _, r := range host {
		if bits&1 == 1 {
			r = []rune(strings.ToUpper(string(r)))[0]
		}
		bits >>= 1
		b.WriteRune(r)
	}
	if bits&1 == 1 {
		b.WriteByte('.')
	}
	if bits&2 == 2 {
		b.WriteString(":443")
	}
	return b.String() + "/" + path
}

// FuzzDenyBySpelling: no spelling of a denied reference gets through, and
// every spelling of a reference normalises to one Image.
func FuzzDenyBySpelling(f *testing.F) {
	f.Add(uint64(0), uint8(0), "evil/miner:1")
	f.Add(uint64(0xffffffff), uint8(1), "evil/miner@sha256:"+hex64)
	f.Add(uint64(12345), uint8(1), "evil/sub/miner")
	p := parsePolicy(f, "apiVersion: v1\nimages:\n  deny: [ghcr.io/evil/**, docker.io/evil/**, quay.io/evil/**]\n")
	hosts := []string{"ghcr.io", "docker.io", "quay.io"}
	f.Fuzz(func(t *testing.T, bits uint64, which uint8, path string) {
		if !strings.HasPrefix(path, "evil/") {
			path = "evil/" + path
		}
		host := hosts[int(which)%len(hosts)]
		canonical, err := ParseImage(host + "/" + path)
		if err != nil {
			return
		}
		ref := respell(host, path, bits)
		img, err := ParseImage(ref)
		if err != nil {
			// A spelling the parser refuses is refused by the policy too.
			_, refused := p.checkImage(ref, false)
			require.NotNil(t, refused, ref)
			return
		}
		if img.String() != canonical.String() {
			t.Fatalf("%q normalises to %q, %q to %q", ref, img.String(), host+"/"+path, canonical.String())
		}
		if _, refused := p.checkImage(ref, false); refused == nil {
			t.Fatalf("%q is a spelling of a denied image and got through", ref)
		}
	})
}
