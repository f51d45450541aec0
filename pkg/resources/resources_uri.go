package resources

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	maxURIBytes     = 4096 // PATH_MAX
	maxSegmentBytes = 255  // NAME_MAX
)

// ErrInvalidURI is wrapped when a resource URI is unusable or unsafe as a
// relative path (absolute, "..", empty segments, control characters).
var ErrInvalidURI = errors.New("invalid resource URI")

// CleanURI turns a resource URI into the canonical relative form used by the
// resource-service and, safely, as a path below a directory. One leading "/"
// is dropped, because Keptn lists resources as "/dir/file" and JES accepted
// both spellings. Anything else that is not a plain relative path is refused
// rather than repaired: "//x" (still absolute), "a//b", "a/./b", "a/../b",
// "a/", backslashes, NUL and control characters, invalid UTF-8 and over-long
// names. Refusing instead of cleaning keeps what is written and what was asked
// for identical.
func CleanURI(uri string) (string, error) {
	u := strings.TrimPrefix(uri, "/")
	if err := checkRelative(u); err != nil {
		return "", permanent.New(fmt.Errorf("%w %q: %w", ErrInvalidURI, uri, err))
	}
	return u, nil
}

func checkRelative(u string) error {
	switch {
	case u == "":
		return errors.New("empty path")
	case len(u) > maxURIBytes:
		return fmt.Errorf("longer than %d bytes", maxURIBytes)
	case !utf8.ValidString(u):
		return errors.New("not valid UTF-8")
	case strings.HasPrefix(u, "/"):
		return errors.New("absolute path")
	}
	for _, r := range u {
		if r == '\\' || unicode.IsControl(r) {
			return fmt.Errorf("contains %q", r)
		}
	}
	for _, seg := range strings.Split(u, "/") {
		switch {
		case seg == "":
			return errors.New("empty path segment (\"//\" or trailing \"/\")")
		case seg == "." || seg == "..":
			return fmt.Errorf("contains the path element %q", seg)
		case len(seg) > maxSegmentBytes:
			return fmt.Errorf("path segment longer than %d bytes", maxSegmentBytes)
		}
	}
	return nil
}

// Escaping says how often a path segment is percent-encoded.
type Escaping int

const (
	// EscapeAuto picks EscapeGateway when the base URL's path ends in
	// "/resource-service" (Keptn's api-gateway-nginx route), else EscapeDirect.
	EscapeAuto Escaping = iota
	// EscapeDirect talks to the resource-service itself
	// (http://resource-service:8080): "job/config.yaml" becomes
	// "job%2Fconfig.yaml"; the service unescapes once.
	EscapeDirect
	// EscapeGateway goes through the api-gateway-nginx
	// (https://keptn.example.com/api/resource-service), which unescapes once
	// before the service does: "job%252Fconfig.yaml" (keptn/keptn#6575).
	EscapeGateway
)

func (e Escaping) String() string {
	switch e {
	case EscapeDirect:
		return "direct"
	case EscapeGateway:
		return "gateway"
	default:
		return "auto"
	}
}

// ParseEscaping reads "auto" (or ""), "direct" or "gateway".
func ParseEscaping(s string) (Escaping, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return EscapeAuto, nil
	case "direct":
		return EscapeDirect, nil
	case "gateway":
		return EscapeGateway, nil
	}
	return EscapeAuto, fmt.Errorf("unknown escaping %q (want auto, direct or gateway)", s)
}

// resolve decides EscapeAuto for a base URL path.
func (e Escaping) resolve(basePath string) Escaping {
	if e != EscapeAuto {
		return e
	}
	if strings.HasSuffix(strings.TrimRight(basePath, "/"), "/resource-service") {
		return EscapeGateway
	}
	return EscapeDirect
}

// EscapeSegment encodes s as one URL path segment for the given (resolved)
// escaping. The resource-service reads the raw segment with
// url.QueryUnescape, so the inner encoding is QueryEscape (which also encodes
// "/"); the gateway's extra decoding pass is undone by escaping that result
// once more.
func EscapeSegment(s string, e Escaping) string {
	out := url.QueryEscape(s)
	if e == EscapeGateway {
		out = url.QueryEscape(out)
	}
	return out
}
