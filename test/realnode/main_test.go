// Package realnode runs the function's Jobs on a real node: the bed's
// control plane with a kubelet built from k8s.io/kubernetes, Debian's
// containerd and runc, and images built from this checkout. Containers
// really run: the fetcher fills /keptn over the pod network, tasks write
// logs and termination messages, deadlines and memory limits kill real
// processes. The lane changes the host, so it runs only when asked
// (REAL_NODE=1 or CI=true, as root); otherwise every test skips, saying so.
package realnode

import (
	"testing"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

func TestMain(m *testing.M) { testbed.MainRealNode(m) }
