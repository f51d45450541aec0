package testbed

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
)

// TestMain builds the binaries before the tests run: the first build takes
// minutes, which must not count against a test's -timeout.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() && os.Getenv(crashHelperEnv) == "" {
		if _, err := EnsureBinaries(context.Background(), os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}
