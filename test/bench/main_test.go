package bench

import (
	"testing"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }
