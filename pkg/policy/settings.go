package policy

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// ApplySettings returns s with the policy's resource defaults and workspace
// ceiling, and refuses settings whose own defaults are above the policy's
// ceilings: a task that asks for nothing must not get more than a task may
// ask for.
func (p *Policy) ApplySettings(s jobs.Settings) (jobs.Settings, error) {
	if d := p.resources.defaults; d != nil {
		s.TaskResources = *d.DeepCopy()
	}
	if m := p.resources.maxWorkspace; m != nil {
		s.MaxWorkspaceSize = m.DeepCopy()
		if s.WorkspaceSize.Cmp(*m) > 0 {
			return s, fmt.Errorf("policy %s: the default workspace size %s is above resources.maxWorkspace %s", p.file, s.WorkspaceSize.String(), m.String())
		}
	}
	for _, kind := range []struct {
		name string
		list corev1.ResourceList
	}{{"limits", s.TaskResources.Limits}, {"requests", s.TaskResources.Requests}} {
		for _, name := range sortedResources(kind.list) {
			q := kind.list[name]
			if m, ok := p.resources.max[name]; ok && q.Cmp(m) > 0 {
				return s, fmt.Errorf("policy %s: the default task %s.%s %s is above resources.max.%s %s; set resources.defaults", p.file, kind.name, name, q.String(), name, m.String())
			}
		}
	}
	return s, nil
}
