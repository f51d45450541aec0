package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// glob is a compiled wildcard pattern. Unlike job-executor-service's
// gobwas/glob list (where `*` also matched `/`, so `docker.io/*` allowed
// `docker.io/evil/miner`), `*` never crosses a `/`; only a whole `**`
// segment spans path segments. It compiles to an anchored RE2 expression,
// so matching is linear in the input whatever the pattern.
type glob struct {
	text string
	re   *regexp.Regexp
}

// globChars are the characters an image reference can contain, plus `*`.
// Anything else could never match and is an error, so a typo such as a
// `?` or `[abc]` (which are wildcards elsewhere) does not silently match
// nothing.
func globChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("._-/:@*", r)
}

// compileGlob compiles a pattern over text segmented by `/`:
//
//   - any run of characters other than `/` (also none)
//     **       a whole segment: any number of segments. `a/**` matches every
//     path below a/ (not a itself); `a/**/b` matches a/b, a/x/b,
//     a/x/y/b; `**/b` matches b and anything ending in /b; `**`
//     alone matches everything.
//
// Every other character matches itself.
func compileGlob(p string) (*glob, error) {
	if p == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	if len(p) > 512 {
		return nil, fmt.Errorf("pattern is %d characters, at most 512", len(p))
	}
	for _, r := range p {
		if !globChar(r) {
			return nil, fmt.Errorf("%q is not allowed in a pattern: only letters, digits, . _ - / : @ and the wildcards * and ** (any other wildcard syntax is not supported)", r)
		}
	}
	segs := strings.Split(p, "/")
	var b strings.Builder
	b.WriteString(`^`)
	for i, s := range segs {
		last := i == len(segs)-1
		switch {
		case s == "**":
			switch {
			case len(segs) == 1:
				b.WriteString(`.*`)
			case last:
				// "a/**": one or more segments below a/.
				b.WriteString(`[^/].*`)
			default:
				// "**/" and "a/**/b": zero or more whole segments.
				b.WriteString(`(?:[^/]+/)*`)
			}
			continue
		case strings.Contains(s, "**"):
			return nil, fmt.Errorf("%q: ** must be a whole path segment (write a/**/b, or * within a segment)", p)
		}
		for j, lit := range strings.Split(s, "*") {
			if j > 0 {
				b.WriteString(`[^/]*`)
			}
			b.WriteString(regexp.QuoteMeta(lit))
		}
		if !last {
			b.WriteString(`/`)
		}
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("%q: %w", p, err)
	}
	return &glob{text: p, re: re}, nil
}

func (g *glob) match(s string) bool { return g.re.MatchString(s) }

// imagePattern matches an image reference by repository, tag and digest:
//
//	<repository>[:<tag>][@<digest>]
//
// The repository is normalised like a reference (alpine is
// index.docker.io/library/alpine, docker.io is index.docker.io). A pattern
// without a tag matches any tag and any digest; with a tag it matches only
// references that carry a matching tag (alpine:latest is what `alpine`
// means; alpine@sha256:… has no tag); with a digest, only references by a
// matching digest.
type imagePattern struct {
	text   string
	repo   *glob
	tag    *glob
	digest *glob
}

func compileImagePattern(p string) (*imagePattern, error) {
	out := &imagePattern{text: p}
	base, dig, hasDigest := strings.Cut(p, "@")
	if hasDigest {
		if dig == "" {
			return nil, fmt.Errorf("%q: empty digest after @", p)
		}
		g, err := compileGlob(dig)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(dig, ":") && dig != "*" {
			return nil, fmt.Errorf("%q: a digest is algorithm:hex, e.g. sha256:… or sha256:*", p)
		}
		out.digest = g
	}
	repo, tag := splitTag(base)
	if tag != "" {
		if strings.Contains(tag, "**") {
			return nil, fmt.Errorf("%q: ** is for repository paths; a tag has no /, so use *", p)
		}
		g, err := compileGlob(tag)
		if err != nil {
			return nil, err
		}
		out.tag = g
	} else if strings.HasSuffix(base, ":") {
		return nil, fmt.Errorf("%q: the tag after : is empty", p)
	}
	norm := normalizeRepoPattern(repo)
	if rest, hub := strings.CutPrefix(norm, dockerHub+"/"); hub && !strings.Contains(rest, "/") && rest != "**" {
		// Every Docker Hub repository is <namespace>/<name>; JES users wrote
		// docker.io/* meaning "Docker Hub", which would match nothing here.
		return nil, fmt.Errorf("%q matches no image: Docker Hub repositories are <namespace>/<name> (official images are docker.io/library/<name>); write docker.io/library/*, docker.io/*/* or docker.io/**", p)
	}
	if !strings.Contains(norm, "/") && norm != "**" {
		return nil, fmt.Errorf("%q matches no image: a repository is <registry>/<path> once normalised; write ** for any repository, or */* for any one-level one", p)
	}
	g, err := compileGlob(norm)
	if err != nil {
		return nil, err
	}
	out.repo = g
	return out, nil
}

// splitTag splits "repo:tag" at a colon after the last slash, so that a
// registry port (localhost:5000/x) is not read as a tag.
func splitTag(s string) (repo, tag string) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.LastIndex(s, "/") > i {
		return s, ""
	}
	return s[:i], s[i+1:]
}

const (
	dockerHub       = "index.docker.io"
	dockerHubAlias  = "docker.io"
	officialLibrary = "library"
)

// normalizeRepoPattern applies Docker's naming rules to the literal parts of
// a repository pattern: a first segment that has no dot, colon or wildcard
// and is not "localhost" is a Docker Hub path, and a single literal segment
// there is an official image (library/). A pattern whose first segment holds
// a wildcard is taken as written (`**` matches any registry).
func normalizeRepoPattern(p string) string {
	if p == "**" {
		return p
	}
	p = normalizeRef(p)
	first, rest, hasRest := strings.Cut(p, "/")
	isRegistry := strings.ContainsAny(first, ".:*") || first == "localhost"
	switch {
	case !hasRest && !isRegistry:
		return dockerHub + "/" + officialLibrary + "/" + p
	case !isRegistry:
		return dockerHub + "/" + p
	case first == dockerHubAlias || first == dockerHub:
		if hasRest && !strings.Contains(rest, "/") && !strings.Contains(rest, "*") {
			rest = officialLibrary + "/" + rest
		}
		return dockerHub + "/" + rest
	}
	return p
}

// normalizeRegistry spells a registries entry as references' hosts are
// spelled (NormalizeHost).
func normalizeRegistry(r string) string { return NormalizeHost(r) }

func (p *imagePattern) match(img Image) bool {
	if !p.repo.match(img.Repository) {
		return false
	}
	if p.tag != nil && (img.Tag == "" || !p.tag.match(img.Tag)) {
		return false
	}
	if p.digest != nil && (img.Digest == "" || !p.digest.match(img.Digest)) {
		return false
	}
	return true
}
