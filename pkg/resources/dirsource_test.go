package resources

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dirTree writes files (slash paths relative to root) and returns root.
func dirTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return root
}

func TestDirSourceGetResource(t *testing.T) {
	root := dirTree(t, map[string]string{
		"project/podtato/resource/job/config.yaml":                                "project",
		"project/podtato/stage/dev/resource/job/config.yaml":                      "stage",
		"project/podtato/stage/dev/service/helloservice/resource/job/config.yaml": "service",
		"project/podtato/stage/dev/service/helloservice/resource/dir/f":           "f",
	})
	d, err := NewDirSource(root)
	require.NoError(t, err)
	ctx := context.Background()
	for scope, want := range map[Scope]string{
		svcScope:                           "service",
		{Project: "podtato", Stage: "dev"}: "stage",
		{Project: "podtato"}:               "project",
	} {
		r, err := d.GetResource(ctx, scope, "/job/config.yaml", "ignored-commit")
		require.NoError(t, err, scope)
		assert.Equal(t, &Resource{URI: "job/config.yaml", Content: []byte(want)}, r)
	}

	for _, tt := range []struct {
		name  string
		scope Scope
		uri   string
		check func(error) bool
	}{
		{"missing file", svcScope, "nope.yaml", func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{"missing service", Scope{Project: "podtato", Stage: "dev", Service: "other"}, "job/config.yaml", func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{"directory is not a resource", svcScope, "dir", func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{"dot-dot", svcScope, "../../resource/job/config.yaml", func(err error) bool { return errors.Is(err, ErrInvalidURI) }},
		{"absolute", svcScope, "//etc/passwd", func(err error) bool { return errors.Is(err, ErrInvalidURI) }},
		{"scope traversal", Scope{Project: "..", Stage: "x"}, "a", func(err error) bool { return errors.Is(err, ErrInvalidScope) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.GetResource(ctx, tt.scope, tt.uri, "")
			require.Error(t, err)
			assert.True(t, tt.check(err), "%v", err)
		})
	}

	// FindWithFallback works over it unchanged.
	r, level, err := FindWithFallback(ctx, d, Scope{Project: "podtato", Stage: "prod", Service: "helloservice"}, "job/config.yaml", "c")
	require.NoError(t, err)
	assert.Equal(t, "project", string(r.Content))
	assert.Equal(t, Scope{Project: "podtato"}, level)
}

func TestDirSourceSymlinks(t *testing.T) {
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	root := dirTree(t, map[string]string{"project/p/resource/real.txt": "real"})
	res := filepath.Join(root, "project/p/resource")
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(res, "escape-abs")))
	require.NoError(t, os.Symlink("../../../../"+filepath.Base(outside)+"/secret", filepath.Join(res, "escape-rel")))
	require.NoError(t, os.Symlink(outside, filepath.Join(res, "escape-dir")))
	require.NoError(t, os.Symlink("real.txt", filepath.Join(res, "inside")))
	d, err := NewDirSource(root)
	require.NoError(t, err)
	p := Scope{Project: "p"}

	for _, uri := range []string{"escape-abs", "escape-rel", "escape-dir/secret"} {
		r, err := d.GetResource(context.Background(), p, uri, "")
		require.Error(t, err, uri)
		assert.Nil(t, r)
		assert.NotErrorIs(t, err, ErrNotFound, "an escape is an error, not a miss: %s", uri)
	}
	r, err := d.GetResource(context.Background(), p, "inside", "")
	require.NoError(t, err)
	assert.Equal(t, "real", string(r.Content))
}

func TestDirSourceListResources(t *testing.T) {
	root := dirTree(t, map[string]string{
		"project/p/stage/s/service/v/resource/job/config.yaml":       "",
		"project/p/stage/s/service/v/resource/helm/Chart.yaml":       "",
		"project/p/stage/s/service/v/resource/helm/templates/a.yaml": "",
		"project/p/stage/s/resource/stage-only.txt":                  "",
	})
	d, err := NewDirSource(root)
	require.NoError(t, err)
	got, err := d.ListResources(context.Background(), Scope{Project: "p", Stage: "s", Service: "v"}, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"helm/Chart.yaml", "helm/templates/a.yaml", "job/config.yaml"}, got)

	// The stage listing includes what lies in its own resource directory only.
	got, err = d.ListResources(context.Background(), Scope{Project: "p", Stage: "s"}, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"stage-only.txt"}, got)

	_, err = d.ListResources(context.Background(), Scope{Project: "p", Stage: "s", Service: "missing"}, "")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = d.ListResources(context.Background(), Scope{Project: "p/../q"}, "")
	assert.ErrorIs(t, err, ErrInvalidScope)
}

func TestNewDirSourceRejectsNonDirectories(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	_, err := NewDirSource(f)
	assert.ErrorContains(t, err, "is not a directory")
	_, err = NewDirSource(filepath.Join(f, "missing"))
	assert.Error(t, err)
}
