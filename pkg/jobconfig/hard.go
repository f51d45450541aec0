package jobconfig

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/podsecurity"
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
	// Field is the path below securityContext, e.g. "seccompProfile.type";
	// "" when the evaluator failed a check no field of ours maps to.
	Field string
	// Value is what was asked for, as the author reads it.
	Value string
	// Reason is the evaluator's: the failed check and its detail, as the
	// API server would refuse the pod.
	Reason string
}

// Message renders a violation as the parser and the job builder report it.
func (v HardViolation) Message() string {
	what := "not allowed"
	if v.Value != "" {
		what = v.Value + " is not allowed"
	}
	return what + ": " + v.Reason + `: jobs run under Pod Security "restricted"`
}

// hardField is where a failed check of Pod Security "restricted" points in a
// container securityContext, keyed by the check's ForbiddenReason (its IDs
// are not in its results): the parser reports at that field's line.
type hardField struct {
	field string
	value func(*corev1.SecurityContext) string
}

var hardFields = map[string]hardField{
	"privileged":                        {"privileged", func(*corev1.SecurityContext) string { return "true" }},
	"allowPrivilegeEscalation != false": {"allowPrivilegeEscalation", func(*corev1.SecurityContext) string { return "true" }},
	"runAsNonRoot != true":              {"runAsNonRoot", func(*corev1.SecurityContext) string { return "false" }},
	"runAsUser=0":                       {"runAsUser", func(*corev1.SecurityContext) string { return "0 (root)" }},
	"procMount": {"procMount", func(sc *corev1.SecurityContext) string {
		return fmt.Sprintf("%q", ptr.Deref(sc.ProcMount, ""))
	}},
	"seccompProfile": {"seccompProfile.type", func(sc *corev1.SecurityContext) string {
		return fmt.Sprintf("%q", ptr.Deref(sc.SeccompProfile, corev1.SeccompProfile{}).Type)
	}},
	"seLinuxOptions": {"seLinuxOptions", func(*corev1.SecurityContext) string { return "" }},
	"hostProcess":    {"windowsOptions.hostProcess", func(*corev1.SecurityContext) string { return "true" }},
	"forbidden AppArmor profile": {"appArmorProfile.type", func(sc *corev1.SecurityContext) string {
		return fmt.Sprintf("%q", ptr.Deref(sc.AppArmorProfile, corev1.AppArmorProfile{}).Type)
	}},
}

// SecurityContextViolations asks Kubernetes' own Pod Security evaluator
// (pkg/podsecurity, the same one policy.CheckJob asks about every Job)
// about a task's securityContext, put in a pod that is otherwise what the
// builder makes: the hardened defaults, with every field the task sets
// winning. Capabilities are left at the default: what may be added depends
// on pods.allowNetBindService and is the policy's. The parser refuses the
// violations with the config line, so that jobctl validate, jobctl render
// and the function say no at the same place; the job builder asks again
// for configs built by hand.
func SecurityContextViolations(sc *corev1.SecurityContext) ([]HardViolation, error) {
	if sc == nil {
		return nil, nil
	}
	failed, err := podsecurity.Failures(&metav1.ObjectMeta{}, &corev1.PodSpec{
		Containers: []corev1.Container{{Name: "task", SecurityContext: probeContext(sc)}},
	})
	if err != nil {
		return nil, fmt.Errorf("securityContext: %w", err)
	}
	out := make([]HardViolation, 0, len(failed))
	for _, r := range failed {
		v := HardViolation{Reason: r.ForbiddenReason}
		if r.ForbiddenDetail != "" {
			v.Reason += " (" + r.ForbiddenDetail + ")"
		}
		if f, ok := hardFields[r.ForbiddenReason]; ok {
			v.Field, v.Value = f.field, f.value(sc)
		}
		out = append(out, v)
	}
	return out, nil
}

// probeContext is sc merged over podsecurity.ContainerContext, capabilities
// excepted: the fields restricted requires set are set unless sc sets them.
func probeContext(sc *corev1.SecurityContext) *corev1.SecurityContext {
	def := podsecurity.ContainerContext()
	probe := sc.DeepCopy()
	probe.Capabilities = def.Capabilities
	if probe.AllowPrivilegeEscalation == nil {
		probe.AllowPrivilegeEscalation = def.AllowPrivilegeEscalation
	}
	if probe.RunAsNonRoot == nil {
		probe.RunAsNonRoot = def.RunAsNonRoot
	}
	if probe.SeccompProfile == nil {
		probe.SeccompProfile = def.SeccompProfile
	}
	return probe
}
