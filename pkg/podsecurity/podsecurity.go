// Package podsecurity is the product's one definition of Pod Security
// "restricted": Kubernetes' own evaluator (k8s.io/pod-security-admission),
// asked by the parser about a task's securityContext and by the policy
// about every built Job, so that both say no for the same reasons as the
// API server.
package podsecurity

import (
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psa "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
)

// Restricted is the Pod Security level every Job meets: "restricted" as the
// linked k8s.io/pod-security-admission defines its latest version (v0.33.5:
// Kubernetes v1.33). Pinning latest of the module, not a version of our
// own, keeps "restricted" meaning what the API server we build against
// means; a cluster's admission may in addition enforce its own version.
var Restricted = psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}

// evaluator is built on first use: populating every version's checks takes
// time that a cold start that never reads a securityContext nor builds a
// Job should not pay.
var evaluator = sync.OnceValues(func() (psa.Evaluator, error) {
	return psa.NewEvaluator(psa.DefaultChecks())
})

// Failures are the checks of Restricted that a pod fails, in the API
// server's words; none when it is allowed.
func Failures(meta *metav1.ObjectMeta, spec *corev1.PodSpec) ([]psa.CheckResult, error) {
	e, err := evaluator()
	if err != nil {
		return nil, fmt.Errorf("pod security evaluator: %w", err)
	}
	var failed []psa.CheckResult
	for _, r := range e.EvaluatePod(Restricted, meta, spec) {
		if !r.Allowed {
			failed = append(failed, r)
		}
	}
	return failed, nil
}

// ContainerContext passes Restricted and adds a read-only root filesystem
// (writable paths are volumes): the builder's default for every container,
// and what a task's own securityContext is merged over.
func ContainerContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		Privileged:               ptr.To(false),
		AllowPrivilegeEscalation: ptr.To(false),
		RunAsNonRoot:             ptr.To(true),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
