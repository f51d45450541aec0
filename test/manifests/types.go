package manifests

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	kustomize "sigs.k8s.io/kustomize/api/types"
)

// goTypes maps each kind the manifests may contain to its Go type. A kind
// missing here is an error, so a new manifest cannot slip past the checks.
var goTypes = map[schema.GroupVersionKind]func() any{
	corev1.SchemeGroupVersion.WithKind("Namespace"):                                           func() any { return &corev1.Namespace{} },
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"):                                      func() any { return &corev1.ServiceAccount{} },
	corev1.SchemeGroupVersion.WithKind("ConfigMap"):                                           func() any { return &corev1.ConfigMap{} },
	corev1.SchemeGroupVersion.WithKind("Secret"):                                              func() any { return &corev1.Secret{} },
	rbacv1.SchemeGroupVersion.WithKind("Role"):                                                func() any { return &rbacv1.Role{} },
	rbacv1.SchemeGroupVersion.WithKind("RoleBinding"):                                         func() any { return &rbacv1.RoleBinding{} },
	rbacv1.SchemeGroupVersion.WithKind("ClusterRole"):                                         func() any { return &rbacv1.ClusterRole{} },
	rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"):                                  func() any { return &rbacv1.ClusterRoleBinding{} },
	networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"):                                 func() any { return &networkingv1.NetworkPolicy{} },
	servingv1.SchemeGroupVersion.WithKind("Service"):                                          func() any { return &servingv1.Service{} },
	eventingv1.SchemeGroupVersion.WithKind("Broker"):                                          func() any { return &eventingv1.Broker{} },
	eventingv1.SchemeGroupVersion.WithKind("Trigger"):                                         func() any { return &eventingv1.Trigger{} },
	sourcesv1.SchemeGroupVersion.WithKind("ApiServerSource"):                                  func() any { return &sourcesv1.ApiServerSource{} },
	sourcesv1.SchemeGroupVersion.WithKind("PingSource"):                                       func() any { return &sourcesv1.PingSource{} },
	{Group: "kustomize.config.k8s.io", Version: "v1beta1", Kind: kustomize.KustomizationKind}: func() any { return &kustomize.Kustomization{} },
	{Group: "kustomize.config.k8s.io", Version: "v1alpha1", Kind: kustomize.ComponentKind}:    func() any { return &kustomize.Kustomization{} },
}

// IsKustomize reports whether gvk is a kustomization file rather than an
// object for the cluster.
func IsKustomize(gvk schema.GroupVersionKind) bool {
	return gvk.Group == "kustomize.config.k8s.io"
}
