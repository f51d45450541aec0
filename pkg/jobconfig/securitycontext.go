package jobconfig

import (
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// securityContextSubset is the part of a container securityContext that JES
// accepted; anything else (seLinuxOptions, windowsOptions, ...) stays an
// unknown field, as it was in JES. Values no policy allows (Pod Security
// "restricted", SecurityContextViolations) are refused here; capabilities are the
// operator's policy, decided when the action is admitted.
type securityContextSubset struct {
	Capabilities             *corev1.Capabilities   `json:"capabilities"`
	Privileged               *bool                  `json:"privileged"`
	RunAsUser                *int64                 `json:"runAsUser"`
	RunAsGroup               *int64                 `json:"runAsGroup"`
	RunAsNonRoot             *bool                  `json:"runAsNonRoot"`
	ReadOnlyRootFilesystem   *bool                  `json:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool                  `json:"allowPrivilegeEscalation"`
	ProcMount                *corev1.ProcMountType  `json:"procMount"`
	SeccompProfile           *corev1.SeccompProfile `json:"seccompProfile"`
}

const maxID = 1<<31 - 1

func (d *decoder) securityContext(n *yaml.Node, path string) *corev1.SecurityContext {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return nil
	}
	var s securityContextSubset
	before := len(d.errs)
	d.into(n, path, reflect.ValueOf(&s).Elem())
	if len(d.errs) > before {
		return nil
	}
	for _, id := range []struct {
		field string
		v     *int64
	}{{"runAsUser", s.RunAsUser}, {"runAsGroup", s.RunAsGroup}} {
		if id.v != nil && (*id.v < 0 || *id.v > maxID) {
			d.errorfPath(n, yamlnode.JoinPath(path, id.field), "must be between 0 and %d (got %d)", maxID, *id.v)
		}
	}
	// Group 0 owns root's files on most images: a hard rule, like uid 0,
	// known offline so validate, render and the function all say it.
	if s.RunAsGroup != nil && *s.RunAsGroup == 0 {
		d.errorfPath(n, yamlnode.JoinPath(path, "runAsGroup"), "0 (the root group) is not allowed: jobs run as a non-root user and group")
	}
	if s.ProcMount != nil {
		switch *s.ProcMount {
		case corev1.DefaultProcMount, corev1.UnmaskedProcMount:
		default:
			d.errorfPath(n, yamlnode.JoinPath(path, "procMount"), "must be one of Default, Unmasked (got %q)", *s.ProcMount)
		}
	}
	if sp := s.SeccompProfile; sp != nil {
		pp := yamlnode.JoinPath(path, "seccompProfile")
		switch sp.Type {
		case corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined:
			if sp.LocalhostProfile != nil {
				d.errorfPath(n, yamlnode.JoinPath(pp, "localhostProfile"), "only allowed with type Localhost")
			}
		case corev1.SeccompProfileTypeLocalhost:
			if sp.LocalhostProfile == nil || *sp.LocalhostProfile == "" {
				d.errorfPath(n, yamlnode.JoinPath(pp, "localhostProfile"), "required with type Localhost")
			}
		default:
			d.errorfPath(n, yamlnode.JoinPath(pp, "type"), "must be one of RuntimeDefault, Localhost, Unconfined (got %q)", sp.Type)
		}
	}
	if c := s.Capabilities; c != nil {
		for _, l := range []struct {
			field string
			caps  []corev1.Capability
		}{{"add", c.Add}, {"drop", c.Drop}} {
			for i, capability := range l.caps {
				if capability == "" {
					d.errorfPath(n, fmt.Sprintf("%s.capabilities.%s[%d]", path, l.field, i), "must name a capability")
				}
			}
		}
	}
	out := &corev1.SecurityContext{
		Capabilities:             s.Capabilities,
		Privileged:               s.Privileged,
		RunAsUser:                s.RunAsUser,
		RunAsGroup:               s.RunAsGroup,
		RunAsNonRoot:             s.RunAsNonRoot,
		ReadOnlyRootFilesystem:   s.ReadOnlyRootFilesystem,
		AllowPrivilegeEscalation: s.AllowPrivilegeEscalation,
		ProcMount:                s.ProcMount,
		SeccompProfile:           s.SeccompProfile,
	}
	if len(d.errs) == before {
		violations, err := SecurityContextViolations(out)
		if err != nil {
			d.errorfPath(n, path, "%v", err)
		}
		for _, v := range violations {
			d.errorfPath(n, yamlnode.JoinPath(path, v.Field), "%s", v.Message())
		}
	}
	return out
}
