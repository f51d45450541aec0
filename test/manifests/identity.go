package manifests

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Namespaces the shipped manifests use; RBACFor maps them elsewhere.
const (
	FunctionNamespace = "keptn-job-executor"
	JobNamespace      = "keptn-jobs"
	// FunctionServiceAccount is the identity the function runs as.
	FunctionServiceAccount = "job-executor"
)

// RBACFor returns the shipped ServiceAccounts, Roles and RoleBindings (from
// `kustomize build config/knative`) moved to the given namespaces, as an
// operator's overlay would, so tests on fresh namespaces get exactly the
// shipped permissions.
func RBACFor(functionNS, jobNS string) ([]*unstructured.Unstructured, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	objs, err := Build(filepath.Join(root, "config", "knative"))
	if err != nil {
		return nil, err
	}
	move := map[string]string{FunctionNamespace: functionNS, JobNamespace: jobNS}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GVK.Kind {
		case "ServiceAccount", "Role", "RoleBinding":
		default:
			continue
		}
		js, err := json.Marshal(o.Typed)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("%s: %w", o.Source, err)
		}
		u.SetNamespace(move[u.GetNamespace()])
		if subjects, ok := u.Object["subjects"].([]any); ok {
			for _, s := range subjects {
				if m, ok := s.(map[string]any); ok {
					m["namespace"] = move[fmt.Sprint(m["namespace"])]
				}
			}
		}
		// Drop what the API server fills in, so the objects apply cleanly.
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		out = append(out, u)
	}
	return out, nil
}

// TokenLifetime is how long ServiceAccountConfig's tokens are valid. In a
// pod the kubelet refreshes the projected token long before it expires
// (and the API server extends the default one to a year); the processes
// of the tests and the bench have no kubelet, so their one token must
// outlive the longest of them: make bench's test binary runs for up to 120
// minutes, and a one-hour token expired in its throughput benchmark on a
// slow machine (every request Unauthorized).
const TokenLifetime = 4 * time.Hour

// ServiceAccountConfig returns a client config for admin's cluster that
// authenticates with a fresh token of ServiceAccount namespace/name (the
// TokenRequest API), as a pod running under that account would.
func ServiceAccountConfig(ctx context.Context, admin *rest.Config, namespace, name string) (*rest.Config, error) {
	kube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	lifetime := int64(TokenLifetime / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &lifetime}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for %s/%s: %w", namespace, name, err)
	}
	c := rest.AnonymousClientConfig(admin)
	c.BearerToken = tr.Status.Token
	return c, nil
}

// WriteKubeconfig writes c's server, CA and bearer token as a kubeconfig
// file, for code that takes KUBECONFIG (the function's Start).
func WriteKubeconfig(c *rest.Config, path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bed"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData, CertificateAuthority: c.CAFile}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: c.BearerToken}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "bed", AuthInfo: "sa"}
	cfg.CurrentContext = "sa"
	return clientcmd.WriteToFile(*cfg, path)
}
