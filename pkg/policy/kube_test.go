package policy

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata/fake"
)

func TestMetadataSecretsReadsLabels(t *testing.T) {
	secret := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "jobs", Labels: map[string]string{"opt-in": "true"}},
	}
	scheme := fake.NewTestScheme()
	require.NoError(t, metav1.AddMetaToScheme(scheme))
	r := MetadataSecrets{Client: fake.NewSimpleMetadataClient(scheme, secret)}
	labels, err := r.SecretLabels(context.Background(), "jobs", "creds")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"opt-in": "true"}, labels)

	_, err = r.SecretLabels(context.Background(), "other", "creds")
	assert.True(t, apierrors.IsNotFound(err), "a Secret is looked up in the given namespace only: %v", err)
}
