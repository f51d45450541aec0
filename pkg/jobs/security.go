package jobs

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/config"
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
func taskSecurityContext(cfg *config.Config, t *config.Task) (*corev1.SecurityContext, error) {
	sc := restrictedContext()
	in := t.SecurityContext
	if in == nil {
		return sc, nil
	}
	refuse := func(field, why string) error {
		return fieldErr(cfg, t.Pos, "securityContext."+field, why+" is not allowed: jobs run under Pod Security \"restricted\"")
	}
	if in.Privileged != nil && *in.Privileged {
		return nil, refuse("privileged", "true")
	}
	if in.AllowPrivilegeEscalation != nil && *in.AllowPrivilegeEscalation {
		return nil, refuse("allowPrivilegeEscalation", "true")
	}
	if in.RunAsNonRoot != nil && !*in.RunAsNonRoot {
		return nil, refuse("runAsNonRoot", "false")
	}
	if in.RunAsUser != nil {
		if *in.RunAsUser == 0 {
			return nil, refuse("runAsUser", "0 (root)")
		}
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
	if in.ProcMount != nil && *in.ProcMount != corev1.DefaultProcMount {
		return nil, refuse("procMount", fmt.Sprintf("%q", *in.ProcMount))
	}
	if in.SeccompProfile != nil {
		switch in.SeccompProfile.Type {
		case corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeLocalhost:
			sc.SeccompProfile = in.SeccompProfile.DeepCopy()
		default:
			return nil, refuse("seccompProfile.type", fmt.Sprintf("%q", in.SeccompProfile.Type))
		}
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
