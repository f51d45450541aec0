package policy

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
)

// KubeConfigMaps reads the ConfigMaps that hold trusted roots
// (trustedRoot.configMap); an empty namespace is Namespace, the
// function's own. The function needs get on that ConfigMap
// (docs/security.md).
type KubeConfigMaps struct {
	Client interface {
		CoreV1() corev1client.CoreV1Interface
	}
	Namespace string
}

// ConfigMapData implements ConfigMapReader.
func (k KubeConfigMaps) ConfigMapData(ctx context.Context, namespace, name string) (map[string]string, error) {
	if namespace == "" {
		namespace = k.Namespace
	}
	cm, err := k.Client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return cm.Data, nil
}

// MetadataSecrets reads Secret labels with a metadata-only GET (the API
// server answers with PartialObjectMetadata), so a Secret's data never
// reaches the function even though its RBAC must grant get on secrets.
type MetadataSecrets struct {
	Client metadata.Interface
}

// SecretLabels implements SecretReader.
func (m MetadataSecrets) SecretLabels(ctx context.Context, namespace, name string) (map[string]string, error) {
	obj, err := m.Client.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return obj.Labels, nil
}
