package jobs

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/podsecurity"
)

// restrictedContext is every container's securityContext: the one
// definition of "restricted" in the product also says what passes it.
func restrictedContext() *corev1.SecurityContext {
	return podsecurity.ContainerContext()
}

// taskSecurityContext merges the task's securityContext over the restricted
// default, field by field. A task may tighten it or pick its user, but nothing
// that would fail "restricted": those fields are refused with the config line
// rather than silently dropped, so the author learns why.
func taskSecurityContext(cfg *jobconfig.Config, t *jobconfig.Task) (*corev1.SecurityContext, error) {
	sc := restrictedContext()
	in := t.SecurityContext
	if in == nil {
		return sc, nil
	}
	refuse := func(field, why string) error {
		return fieldErr(cfg, t.Pos, "securityContext."+field, why+" is not allowed: jobs run under Pod Security \"restricted\"")
	}
	// The parser refuses these with their line; a config built by hand
	// gets the same answer here.
	v, err := jobconfig.SecurityContextViolations(in)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Name, err)
	}
	if len(v) > 0 {
		field := "securityContext"
		if v[0].Field != "" {
			field += "." + v[0].Field
		}
		return nil, fieldErr(cfg, t.Pos, field, v[0].Message())
	}
	if in.RunAsUser != nil {
		sc.RunAsUser = ptr.To(*in.RunAsUser)
	}
	if in.RunAsGroup != nil {
		if *in.RunAsGroup == 0 {
			return nil, refuse("runAsGroup", "0 (root group)")
		}
		sc.RunAsGroup = ptr.To(*in.RunAsGroup)
	}
	if in.ReadOnlyRootFilesystem != nil {
		sc.ReadOnlyRootFilesystem = ptr.To(*in.ReadOnlyRootFilesystem)
	}
	if in.SeccompProfile != nil {
		sc.SeccompProfile = in.SeccompProfile.DeepCopy()
	}
	if in.Capabilities != nil {
		for _, c := range in.Capabilities.Add {
			// NET_BIND_SERVICE is the one capability "restricted" allows.
			if c != "NET_BIND_SERVICE" {
				return nil, refuse("capabilities.add", fmt.Sprintf("%q", c))
			}
			sc.Capabilities.Add = append(sc.Capabilities.Add, c)
		}
	}
	return sc, nil
}
