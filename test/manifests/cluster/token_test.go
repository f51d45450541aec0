package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// The function's token in the tests and the bench is issued once, with no
// kubelet to refresh it: the API server must grant the whole lifetime
// asked for, or a long run's requests turn Unauthorized part-way.
func TestServiceAccountTokenLastsTheLongestRun(t *testing.T) {
	bed := testbed.Get(t)
	ns := testbed.Namespace(t)
	objs, err := manifests.RBACFor(ns, testbed.Namespace(t))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = bed.ApplyObjects(ctx, "", objs...)
	require.NoError(t, err)
	cfg, err := manifests.ServiceAccountConfig(ctx, bed.RESTConfig(), ns, manifests.FunctionServiceAccount)
	require.NoError(t, err)

	parts := strings.Split(cfg.BearerToken, ".")
	require.Len(t, parts, 3, "a JWT")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims struct{ Iat, Exp int64 }
	require.NoError(t, json.Unmarshal(payload, &claims))
	require.Equal(t, manifests.TokenLifetime, time.Duration(claims.Exp-claims.Iat)*time.Second)
	require.Greater(t, manifests.TokenLifetime, 120*time.Minute, "make bench's -timeout")
}
