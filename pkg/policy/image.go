package policy

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Image is an image reference normalised the way a container runtime reads
// it, so that rules cannot be dodged by spelling: `alpine`,
// `docker.io/alpine` and `index.docker.io/library/alpine:latest` are the
// same Image.
type Image struct {
	// Ref is the reference as written in the config.
	Ref string
	// Registry is the registry host, e.g. "index.docker.io", "ghcr.io" or
	// "127.0.0.1:5000".
	Registry string
	// Repository is the full repository name with its registry, e.g.
	// "index.docker.io/library/alpine".
	Repository string
	// Tag is "latest" when neither a tag nor a digest was written, and ""
	// for a reference by digest only.
	Tag string
	// Digest is "" or "sha256:<hex>".
	Digest string
}

// String is the canonical form, repository[:tag][@digest].
func (i Image) String() string {
	s := i.Repository
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// Pinned is the reference by digest that a Job should run.
func (i Image) Pinned() string { return i.Repository + "@" + i.Digest }

// ParseImage normalises an image reference with go-containerregistry's
// rules (those of Docker and containerd), after spelling its host as
// runtimes resolve it (NormalizeHost): the parser alone keeps GHCR.IO,
// ghcr.io:443 and registry-1.docker.io as other registries than ghcr.io and
// docker.io, and a deny rule could be dodged that way.
func ParseImage(ref string) (Image, error) {
	img := Image{Ref: ref}
	base, dig, hasDigest := strings.Cut(normalizeRef(ref), "@")
	repoPart, tag := splitTag(base)
	if strings.Contains(repoPart, "//") || strings.HasSuffix(repoPart, "/") || strings.HasPrefix(repoPart, "/") {
		// go-containerregistry takes ghcr.io/evil/ as a repository that a
		// ghcr.io/evil/** rule does not cover; runtimes refuse it.
		return Image{}, fmt.Errorf("not a valid image reference %q: empty path segment", ref)
	}
	var repo name.Repository
	var err error
	switch {
	case hasDigest:
		var d name.Digest
		d, err = name.NewDigest(repoPart + "@" + dig)
		repo, img.Digest = d.Context(), d.DigestStr()
		if err == nil && tag != "" {
			_, err = name.NewTag(base)
		}
		img.Tag = tag
	default:
		var t name.Tag
		t, err = name.NewTag(base)
		repo, img.Tag = t.Context(), t.TagStr()
	}
	if err != nil {
		return Image{}, fmt.Errorf("not a valid image reference %q: %w", ref, err)
	}
	img.Registry = repo.RegistryStr()
	img.Repository = repo.Name()
	return img, nil
}
