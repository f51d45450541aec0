package podsecurity

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The default every container gets must itself pass what it is the
// default for; a bare container must not, or the evaluator is not asked.
func TestFailures(t *testing.T) {
	tests := []struct {
		name    string
		sc      *corev1.SecurityContext
		reasons []string
	}{
		{"ContainerContext", ContainerContext(), nil},
		{"bare", nil, []string{"allowPrivilegeEscalation != false", "unrestricted capabilities", "runAsNonRoot != true", "seccompProfile"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			failed, err := Failures(&metav1.ObjectMeta{}, &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", SecurityContext: tc.sc}}})
			require.NoError(t, err)
			var reasons []string
			for _, r := range failed {
				reasons = append(reasons, r.ForbiddenReason)
			}
			assert.Equal(t, tc.reasons, reasons)
		})
	}
}
