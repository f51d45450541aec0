// Package e2e holds the end-to-end tests that run against the test bed
// (package testbed): one control plane per test binary, a namespace per test.
// `go test -short` skips them.
package e2e

import (
	"testing"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }
