package main

import (
	"context"
	"fmt"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

// Levels of Keptn's repository a config can be stored at.
var levels = []string{"service", "stage", "project"}

// localConfig serves one local file as job/config.yaml at one level of the
// event's scope, so that render loads it through the function's own loader
// (launch.Configs): same fallback order, same parse options and the same
// config name in errors and annotations.
type localConfig struct {
	level string
	data  []byte
}

var _ resources.ResourceGetter = localConfig{}

// GetResource reports the event's commit as the version, which is what
// Keptn's resource-service answers when asked for a commit. At project level
// the function asks without one and Keptn answers with the branch head, which
// a laptop cannot know: the name then has no "at <commit>".
func (l localConfig) GetResource(_ context.Context, s resources.Scope, uri, gitCommitID string) (*resources.Resource, error) {
	if s.Level() != l.level || uri != jobconfig.ResourceURI {
		return nil, fmt.Errorf("%w: %s at %s level", resources.ErrNotFound, uri, s.Level())
	}
	return &resources.Resource{URI: uri, Content: l.data, Version: gitCommitID}, nil
}
