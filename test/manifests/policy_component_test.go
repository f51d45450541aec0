package manifests

import (
	"path"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/policy"
)

// The policy component mounts a policy the function accepts and points
// POLICY_FILE at it.
func TestPolicyComponent(t *testing.T) {
	objs := overlayWith(t, "policy")
	cm := find[*corev1.ConfigMap](t, objs, "ConfigMap keptn-job-executor/job-executor-policy")
	if _, err := policy.Parse("policy.yaml", []byte(cm.Data["policy.yaml"]), policy.WithSecrets(policy.MetadataSecrets{})); err != nil {
		t.Fatalf("the shipped policy does not load: %v", err)
	}
	// (TestManifestsPassAdmission admits the patched Service.)
	c := find[*servingv1.Service](t, objs, fnKey).Spec.Template.Spec.Containers[0]
	var file string
	for _, e := range c.Env {
		if e.Name == "POLICY_FILE" {
			file = e.Value
		}
	}
	if len(c.VolumeMounts) != 1 || file != path.Join(c.VolumeMounts[0].MountPath, "policy.yaml") {
		t.Fatalf("POLICY_FILE %q is not the mounted policy.yaml (mounts %+v)", file, c.VolumeMounts)
	}
	// The Secret-label Role is the base's (TestRBACGrantsExactlyWhatTheFunctionNeeds):
	// the opt-in label is on without a policy too.
	role := find[*rbacv1.Role](t, build(t, knativeDir(t)), "Role keptn-jobs/job-executor-secret-labels")
	if len(role.Rules) != 1 || role.Rules[0].Resources[0] != "secrets" || len(role.Rules[0].Verbs) != 1 || role.Rules[0].Verbs[0] != "get" {
		t.Errorf("secret role %+v: want get on secrets only", role.Rules)
	}
}
