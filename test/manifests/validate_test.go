package manifests

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/ptr"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// knativeObject is what Knative's defaulting and validating webhooks call.
type knativeObject interface {
	apis.Defaultable
	apis.Validatable
}

// admit does what the webhooks do on create: default, then validate, in
// the context of the webhook owning the object's API group.
func admit(t testing.TB, o Object) error {
	t.Helper()
	k, ok := o.Typed.(knativeObject)
	if !ok {
		return nil
	}
	ctx := eventingContext(t)
	if o.GVK.Group == servingv1.SchemeGroupVersion.Group {
		ctx = servingContext(t)
	}
	k.SetDefaults(ctx)
	if err := k.Validate(ctx); err != nil {
		return err
	}
	return nil
}

// validMeta applies the API server's ObjectMeta rules (names, labels,
// annotations); every shipped object names its namespace, since the two
// namespaces make a `kubectl -n` default wrong for half of them.
func validMeta(o Object) field.ErrorList {
	m, ok := o.Typed.(metav1.Object)
	if !ok {
		return nil
	}
	om := metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), Labels: m.GetLabels(), Annotations: m.GetAnnotations()}
	switch o.GVK.Kind {
	case "Namespace":
		return apivalidation.ValidateObjectMeta(&om, false, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
	case "ClusterRole", "ClusterRoleBinding":
		return apivalidation.ValidateObjectMeta(&om, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	}
	return apivalidation.ValidateObjectMeta(&om, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

func TestManifestsPassAdmission(t *testing.T) {
	files, err := LoadDir(knativeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string][]Object{
		"files":                    files,
		"kustomize build":          build(t, knativeDir(t)),
		"kustomize build platform": build(t, knativeDir(t, "platform")),
		"overlay with component":   overlayWithNetworkPolicy(t),
		"overlay with policy":      overlayWith(t, "policy"),
	}
	for name, objs := range sets {
		t.Run(name, func(t *testing.T) {
			for _, o := range objs {
				if IsKustomize(o.GVK) {
					continue
				}
				if errs := validMeta(o); len(errs) > 0 {
					t.Errorf("%s %s: %v", o.Source, o.Key(), errs.ToAggregate())
				}
				if err := admit(t, o); err != nil {
					t.Errorf("%s %s: %v", o.Source, o.Key(), err)
				}
			}
		})
	}
}

// TestAdmissionRefusesBrokenVariants proves the checks above can fail:
// each case breaks one shipped object the way a careless edit would.
func TestAdmissionRefusesBrokenVariants(t *testing.T) {
	objs := build(t, knativeDir(t))
	ksvc := "Service keptn-job-executor/job-executor"
	for _, tc := range []struct {
		name, key, want string
		breakIt         func(any)
	}{
		{"concurrency over the maximum", ksvc, "containerConcurrency", func(o any) {
			o.(*servingv1.Service).Spec.Template.Spec.ContainerConcurrency = ptr.Int64(5000)
		}},
		{"timeout over max-revision-timeout-seconds", ksvc, "timeoutSeconds", func(o any) {
			o.(*servingv1.Service).Spec.Template.Spec.TimeoutSeconds = ptr.Int64(3600)
		}},
		{"pod securityContext needs a feature flag", ksvc, "securityContext", func(o any) {
			o.(*servingv1.Service).Spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.Int64(1)}
		}},
		{"max-scale below min-scale", ksvc, "max-scale", func(o any) {
			o.(*servingv1.Service).Spec.Template.Annotations["autoscaling.knative.dev/min-scale"] = "9"
		}},
		{"two dialects in one filter", "Trigger keptn-job-executor/job-executor-keptn-tasks", "multiple dialects", func(o any) {
			f := o.(*eventingv1.Trigger).Spec.Filters
			f[0].Suffix = f[1].Suffix
		}},
		{"backoffDelay not ISO 8601", "Trigger keptn-job-executor/job-executor-keptn-tasks", "backoffDelay", func(o any) {
			o.(*eventingv1.Trigger).Spec.Delivery.BackoffDelay = ptr.String("1s")
		}},
		{"mode is case-sensitive", "ApiServerSource keptn-job-executor/job-executor-jobs", "mode", func(o any) {
			o.(*sourcesv1.ApiServerSource).Spec.EventMode = "resource"
		}},
		{"filters need an alpha flag", "ApiServerSource keptn-job-executor/job-executor-jobs", "NewAPIServerFilters", func(o any) {
			o.(*sourcesv1.ApiServerSource).Spec.Filters = []eventingv1.SubscriptionsAPIFilter{{Exact: map[string]string{"type": "x"}}}
		}},
		{"@every is refused", "PingSource keptn-job-executor/job-executor-sweep", "schedule", func(o any) {
			o.(*sourcesv1.PingSource).Spec.Schedule = "@every 1m"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o Object
			for _, x := range objs {
				if x.Key() == tc.key {
					o = x
				}
			}
			if o.Typed == nil {
				t.Fatalf("no %s", tc.key)
			}
			// Decode afresh so cases do not share pointers.
			o, err := Decode(o.Source, o.YAML)
			if err != nil {
				t.Fatal(err)
			}
			tc.breakIt(o.Typed)
			err = admit(t, o)
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("admission error %v: want one mentioning %q", err, tc.want)
			}
		})
	}
}

// The release defaults matter: the Trigger's delivery timeout is a Beta
// field that the feature store of a fresh install enables; a context
// without the store would refuse it, so passing shows the store is used.
func TestTriggerNeedsReleaseFeatureDefaults(t *testing.T) {
	tr := find[*eventingv1.Trigger](t, build(t, knativeDir(t)), "Trigger keptn-job-executor/job-executor-keptn-tasks")
	if tr.Spec.Delivery == nil || tr.Spec.Delivery.Timeout == nil {
		t.Fatal("the Trigger sets no delivery timeout")
	}
	if err := tr.Validate(apis.WithinCreate(context.Background())); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("without the feature store: %v, want the timeout refused", err)
	}
	if err := tr.Validate(eventingContext(t)); err != nil {
		t.Fatalf("with the release's features: %v", err)
	}
}
