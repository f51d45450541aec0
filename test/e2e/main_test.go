// Package e2e runs the function against the local control plane (real etcd,
// kube-apiserver, controller-manager, scheduler and a kwok node), the Keptn
// stand-in (checked against Keptn's OpenAPI contract) and, for completion,
// Knative's real ApiServerSource adapter.
package e2e

import (
	"testing"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }
