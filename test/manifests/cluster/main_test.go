// Package cluster checks the shipped manifests against a real API server
// with Knative's CRDs installed (the test bed): server-side dry-run of every
// object, and the RBAC proven by the API server's own authorizer.
package cluster

import (
	"testing"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }
