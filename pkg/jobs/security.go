package jobs

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
)

// restrictedContext passes Pod Security Admission "restricted" and adds a
// read-only root filesystem; /tmp and /keptn are writable volumes.
func restrictedContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		Privileged:               ptr.To(false),
		AllowPrivilegeEscalation: ptr.To(false),
		RunAsNonRoot:             ptr.To(true),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
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
	if v := jobconfig.SecurityContextViolations(in); len(v) > 0 {
		return nil, fieldErr(cfg, t.Pos, "securityContext."+v[0].Field, v[0].Message())
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
