package jobconfig

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ReservedDomain prefixes the labels and annotations the function writes on
// its Jobs to report on them; a config that set one could forge a report.
const ReservedDomain = "jobs.keptn.sh/"

// ReservedAnnotation reports whether key is in ReservedDomain. Case is
// ignored: a key that differs only in case reads as ours to a person.
func ReservedAnnotation(key string) bool {
	return strings.HasPrefix(strings.ToLower(key), ReservedDomain)
}

// HardViolation is one securityContext field whose value no policy allows.
type HardViolation struct {
	// Field is the path below securityContext, e.g. "seccompProfile.type".
	Field string
	// Value is what was asked for, as the author reads it.
	Value string
}

// Message renders a violation as the parser and the job builder report it.
func (v HardViolation) Message() string {
	return v.Value + ` is not allowed: jobs run under Pod Security "restricted"`
}

// SecurityContextViolations are the hard rules on a task's securityContext
// that need no policy to decide (capabilities depend on
// pods.allowNetBindService and are the policy's). The parser refuses them
// with the config line, so that jobctl validate, jobctl render and the
// function say no at the same place; the job builder asks again for configs
// built by hand.
func SecurityContextViolations(sc *corev1.SecurityContext) []HardViolation {
	if sc == nil {
		return nil
	}
	var out []HardViolation
	if sc.Privileged != nil && *sc.Privileged {
		out = append(out, HardViolation{"privileged", "true"})
	}
	if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
		out = append(out, HardViolation{"allowPrivilegeEscalation", "true"})
	}
	if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
		out = append(out, HardViolation{"runAsNonRoot", "false"})
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		out = append(out, HardViolation{"runAsUser", "0 (root)"})
	}
	if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
		out = append(out, HardViolation{"procMount", fmt.Sprintf("%q", *sc.ProcMount)})
	}
	if sp := sc.SeccompProfile; sp != nil && sp.Type != corev1.SeccompProfileTypeRuntimeDefault && sp.Type != corev1.SeccompProfileTypeLocalhost {
		out = append(out, HardViolation{"seccompProfile.type", fmt.Sprintf("%q", sp.Type)})
	}
	return out
}
