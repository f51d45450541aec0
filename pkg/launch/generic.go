package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// GenericConfigFile is the key of the operator's ConfigMap, mounted at
// GENERIC_CONFIG_DIR, that holds the job config of generic events.
const GenericConfigFile = "config.yaml"

// GenericConfigs reads the job config of generic events from a directory
// mounted from the operator's ConfigMap (docs/generic.md). Kubernetes
// updates such a mount in place, so the file is read on every event and
// parsed only when it changed (Configs' cache).
type GenericConfigs struct {
	Dir   string
	cache Configs
}

// NewGenericConfigs checks that dir is a directory.
func NewGenericConfigs(dir string, opts ...jobconfig.Option) (*GenericConfigs, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("generic config directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("generic config directory %s is not a directory", dir)
	}
	return &GenericConfigs{Dir: dir, cache: Configs{Options: opts}}, nil
}

// Load returns the config; the event does not choose it.
func (g *GenericConfigs) Load(_ context.Context, _ *keptn.TaskEvent) (*jobconfig.Config, error) {
	path := filepath.Join(g.Dir, GenericConfigFile)
	content, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoConfig, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return g.cache.parse(path, content)
}

// loader is where ev's config comes from.
func (h *Handler) loader(ev *keptn.TaskEvent) ConfigLoader {
	if ev.Generic {
		return h.GenericConfigs
	}
	return h.Configs
}
