package policy

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
)

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
