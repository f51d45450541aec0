package resources

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mapGetter answers from a map keyed by "level@commit/uri" and records calls.
type mapGetter struct {
	mu    sync.Mutex
	files map[string]string
	errs  map[string]error
	calls []string
}

func getterKey(s Scope, uri, commit string) string {
	return fmt.Sprintf("%s@%s/%s", s.Level(), commit, uri)
}

func (m *mapGetter) GetResource(_ context.Context, s Scope, uri, commit string) (*Resource, error) {
	k := getterKey(s, uri, commit)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, k)
	if err, ok := m.errs[k]; ok {
		return nil, err
	}
	if c, ok := m.files[k]; ok {
		return &Resource{URI: uri, Content: []byte(c), Version: commit}, nil
	}
	return nil, fmt.Errorf("get %s: %w", k, ErrNotFound)
}

func TestFindWithFallback(t *testing.T) {
	const uri = "job/config.yaml"
	tests := []struct {
		name      string
		scope     Scope
		files     map[string]string
		errs      map[string]error
		want      string
		wantLevel string
		wantCalls []string
		wantErr   func(error) bool
	}{
		{
			name:  "service level at the commit",
			scope: svcScope, files: map[string]string{"service@c1/" + uri: "svc", "stage@c1/" + uri: "stage"},
			want: "svc", wantLevel: "service", wantCalls: []string{"service@c1/" + uri},
		},
		{
			name:  "stage level at the commit",
			scope: svcScope, files: map[string]string{"stage@c1/" + uri: "stage", "project@/" + uri: "proj"},
			want: "stage", wantLevel: "stage", wantCalls: []string{"service@c1/" + uri, "stage@c1/" + uri},
		},
		{
			name:  "project level without the commit",
			scope: svcScope, files: map[string]string{"project@c1/" + uri: "wrong", "project@/" + uri: "proj"},
			want: "proj", wantLevel: "project", wantCalls: []string{"service@c1/" + uri, "stage@c1/" + uri, "project@/" + uri},
		},
		{
			name:  "stage scope skips the service level",
			scope: Scope{Project: "podtato", Stage: "dev"}, files: map[string]string{"project@/" + uri: "proj"},
			want: "proj", wantLevel: "project", wantCalls: []string{"stage@c1/" + uri, "project@/" + uri},
		},
		{
			name:      "nowhere",
			scope:     svcScope,
			wantCalls: []string{"service@c1/" + uri, "stage@c1/" + uri, "project@/" + uri},
			wantErr:   func(err error) bool { return errors.Is(err, ErrNotFound) },
		},
		{
			name:  "an outage at the service level stops the search",
			scope: svcScope, files: map[string]string{"project@/" + uri: "proj"},
			errs:      map[string]error{"service@c1/" + uri: &RetryableError{StatusCode: 503, Err: errors.New("down")}},
			wantCalls: []string{"service@c1/" + uri},
			wantErr:   func(err error) bool { return err != nil && !permanent.Is(err) },
		},
		{
			name:  "auth refused at the stage level stops the search",
			scope: svcScope, files: map[string]string{"project@/" + uri: "proj"},
			errs:      map[string]error{"stage@c1/" + uri: &AuthError{StatusCode: 401}},
			wantCalls: []string{"service@c1/" + uri, "stage@c1/" + uri},
			wantErr:   IsAuthError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &mapGetter{files: tt.files, errs: tt.errs}
			r, level, err := FindWithFallback(context.Background(), g, tt.scope, uri, "c1")
			assert.Equal(t, tt.wantCalls, g.calls)
			if tt.wantErr != nil {
				require.Error(t, err)
				assert.True(t, tt.wantErr(err), "unexpected error kind: %v", err)
				assert.False(t, tt.wantErr(nil))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(r.Content))
			assert.Equal(t, tt.wantLevel, level.Level())
			assert.Equal(t, tt.scope.Project, level.Project)
		})
	}
}

func TestFindWithFallbackNotFoundNamesTheSearch(t *testing.T) {
	_, _, err := FindWithFallback(context.Background(), &mapGetter{}, svcScope, "job/config.yaml", "c1")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorContains(t, err, `"job/config.yaml" in project "podtato" stage "dev" service "helloservice" (looked at service, stage, project level)`)
}

func TestFindWithFallbackInvalidScope(t *testing.T) {
	g := &mapGetter{}
	_, _, err := FindWithFallback(context.Background(), g, Scope{Project: "p", Service: "v"}, "a", "")
	assert.ErrorIs(t, err, ErrInvalidScope)
	assert.Empty(t, g.calls)
}

func TestLookupOrder(t *testing.T) {
	assert.Equal(t, []Lookup{
		{Scope: svcScope, GitCommitID: "c"},
		{Scope: Scope{Project: "podtato", Stage: "dev"}, GitCommitID: "c"},
		{Scope: Scope{Project: "podtato"}},
	}, LookupOrder(svcScope, "c"))
	assert.Equal(t, []Lookup{{Scope: Scope{Project: "p"}}}, LookupOrder(Scope{Project: "p"}, "c"))
}
