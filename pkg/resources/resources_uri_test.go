package resources

import (
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCleanURI(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  string
	}{
		{in: "job/config.yaml", want: "job/config.yaml"},
		{in: "/job/config.yaml", want: "job/config.yaml"},
		{in: "small.file", want: "small.file"},
		{in: "a b/c+d%2F.txt", want: "a b/c+d%2F.txt"},
		{in: "..hidden/x..y", want: "..hidden/x..y"},
		{in: "", wantErr: "empty path"},
		{in: "/", wantErr: "empty path"},
		{in: "//etc/passwd", wantErr: "absolute path"},
		{in: "../etc/passwd", wantErr: `".."`},
		{in: "a/../../b", wantErr: `".."`},
		{in: "a/..", wantErr: `".."`},
		{in: "./a", wantErr: `"."`},
		{in: "a//b", wantErr: "empty path segment"},
		{in: "a/", wantErr: "empty path segment"},
		{in: `a\..\b`, wantErr: `'\\'`},
		{in: "a\x00b", wantErr: "contains"},
		{in: "a\nb", wantErr: "contains"},
		{in: "\xff", wantErr: "UTF-8"},
		{in: strings.Repeat("a", 256), wantErr: "segment longer"},
		{in: strings.Repeat("a/", 2049) + "a", wantErr: "longer than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanURI(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrInvalidURI)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzCleanURI(f *testing.F) {
	for _, s := range []string{"job/config.yaml", "/a/b", "../x", "a/../../b", "//x", "a//b", "a/./b", `a\b`, "...", "a/..b/.c", "\x00", "/.."} {
		f.Add(s)
	}
	root := filepath.FromSlash("/workspace/root")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := CleanURI(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidURI) {
				t.Fatalf("error %v does not wrap ErrInvalidURI", err)
			}
			return
		}
		// Accepted means: relative, canonical, and it stays below any root.
		if got == "" || strings.HasPrefix(got, "/") || filepath.IsAbs(got) {
			t.Fatalf("CleanURI(%q) = %q is not relative", in, got)
		}
		if filepath.ToSlash(filepath.Clean(got)) != got {
			t.Fatalf("CleanURI(%q) = %q is not canonical", in, got)
		}
		joined := filepath.Join(root, got)
		if !strings.HasPrefix(joined, root+string(filepath.Separator)) {
			t.Fatalf("CleanURI(%q) = %q escapes: %s", in, got, joined)
		}
		if again, err := CleanURI(got); err != nil || again != got {
			t.Fatalf("CleanURI not idempotent on %q: %q, %v", got, again, err)
		}
	})
}

func TestEscapeSegment(t *testing.T) {
	tests := []struct {
		in              string
		direct, gateway string
	}{
		{"job/config.yaml", "job%2Fconfig.yaml", "job%252Fconfig.yaml"},
		{"config.yaml", "config.yaml", "config.yaml"},
		{"a b+c", "a+b%2Bc", "a%2Bb%252Bc"},
		{"x?y#z%", "x%3Fy%23z%25", "x%253Fy%2523z%2525"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.direct, EscapeSegment(tt.in, EscapeDirect))
			assert.Equal(t, tt.gateway, EscapeSegment(tt.in, EscapeGateway))
		})
	}
}

// FuzzEscapeSegment checks the decoding chain each mode is built for: the
// resource-service's url.QueryUnescape, preceded for the gateway by nginx's
// path decoding.
func FuzzEscapeSegment(f *testing.F) {
	for _, s := range []string{"job/config.yaml", "a b+c", "%2F", "ü/ß", "?#&=;", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, mode := range []Escaping{EscapeDirect, EscapeGateway} {
			e := EscapeSegment(in, mode)
			if strings.ContainsAny(e, "/?#") {
				t.Fatalf("%s escape of %q = %q leaves a path/query delimiter", mode, in, e)
			}
			raw := e
			if mode == EscapeGateway {
				var err error
				if raw, err = url.PathUnescape(e); err != nil {
					t.Fatalf("gateway decoding of %q: %v", e, err)
				}
			}
			back, err := url.QueryUnescape(raw)
			if err != nil || back != in {
				t.Fatalf("%s: %q -> %q -> %q, %v", mode, in, e, back, err)
			}
		}
	})
}

func TestEscapingResolveAndParse(t *testing.T) {
	assert.Equal(t, EscapeGateway, EscapeAuto.resolve("/api/resource-service"))
	assert.Equal(t, EscapeGateway, EscapeAuto.resolve("/api/resource-service/"))
	assert.Equal(t, EscapeDirect, EscapeAuto.resolve(""))
	assert.Equal(t, EscapeDirect, EscapeAuto.resolve("/resource-service-proxy"))
	assert.Equal(t, EscapeDirect, EscapeDirect.resolve("/api/resource-service"))
	assert.Equal(t, EscapeGateway, EscapeGateway.resolve(""))

	for in, want := range map[string]Escaping{"": EscapeAuto, "auto": EscapeAuto, "Direct": EscapeDirect, " gateway ": EscapeGateway} { //nolint:gocritic // mapKey: the spaces are the case under test
		got, err := ParseEscaping(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseEscaping("twice")
	assert.ErrorContains(t, err, `unknown escaping "twice"`)
}

func TestScopeValidate(t *testing.T) {
	tests := []struct {
		s       Scope
		wantErr string
	}{
		{s: Scope{Project: "p"}},
		{s: Scope{Project: "p", Stage: "dev"}},
		{s: Scope{Project: "p", Stage: "dev", Service: "svc-1"}},
		{s: Scope{}, wantErr: "project is empty"},
		{s: Scope{Project: "p", Service: "v"}, wantErr: "without a stage"},
		{s: Scope{Project: ".."}, wantErr: "relative path element"},
		{s: Scope{Project: "p", Stage: "a/b"}, wantErr: `stage "a/b": contains '/'`},
		{s: Scope{Project: "p", Stage: "s", Service: "x%2F"}, wantErr: "contains '%'"},
		{s: Scope{Project: "p q"}, wantErr: "contains ' '"},
	}
	for _, tt := range tests {
		t.Run(tt.s.String(), func(t *testing.T) {
			err := tt.s.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrInvalidScope)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
