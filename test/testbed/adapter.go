package testbed

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/eventing/pkg/reconciler/apiserversource/resources"
	reconcilersource "knative.dev/eventing/pkg/reconciler/source"
)

// Adapter is a running ApiServerSource receive adapter.
type Adapter struct {
	proc *process
	// Env is the environment the adapter was started with (besides ours).
	Env []string
}

var adapterSeq atomic.Int64

// StartAdapter runs Knative's ApiServerSource receive adapter for src, as
// the ApiServerSource reconciler would deploy it, except that events go to
// sink (the reconciler would resolve src.Spec.Sink). The adapter's
// environment (K_SOURCE_CONFIG and the rest) is computed by the reconciler's
// own code (resources.MakeReceiveAdapter) at the eventing version the test
// module requires, so the watch configuration is Knative's, not ours.
//
// The adapter watches with the bed's admin credentials. It stops with the
// bed or with Adapter.Stop. It has no readiness signal, and objects that
// exist when its watch starts produce no event (its reflector drops the
// initial list): to know it is watching, change a watched object until its
// event arrives.
func (b *Bed) StartAdapter(ctx context.Context, src *sourcesv1.ApiServerSource, sink string) (*Adapter, error) {
	if src.Name == "" || src.Namespace == "" {
		return nil, fmt.Errorf("testbed: ApiServerSource needs a name and a namespace")
	}
	namespaces, err := b.sourceNamespaces(ctx, src)
	if err != nil {
		return nil, err
	}
	selector := src.Spec.NamespaceSelector
	deployment, err := resources.MakeReceiveAdapter(&resources.ReceiveAdapterArgs{
		Image:         "testbed.local/apiserver-receive-adapter",
		Source:        src,
		Labels:        resources.Labels(src.Name),
		SinkURI:       sink,
		Configs:       &reconcilersource.EmptyVarsGenerator{},
		Namespaces:    namespaces,
		AllNamespaces: selector != nil && len(selector.MatchLabels) == 0 && len(selector.MatchExpressions) == 0,
		FailFast:      src.Annotations["features.knative.dev/apiserversource-skip-permissions-check"] == "true",
	})
	if err != nil {
		return nil, fmt.Errorf("testbed: receive adapter for %s/%s: %w", src.Namespace, src.Name, err)
	}
	env, err := adapterEnv(deployment.Spec.Template.Spec.Containers[0].Env, src.Namespace)
	if err != nil {
		return nil, err
	}
	env = append(env, "KUBECONFIG="+b.kubeconfig)
	name := fmt.Sprintf("apiserver-receive-adapter-%s-%s-%d", src.Namespace, src.Name, adapterSeq.Add(1))
	p, err := b.run(name, b.bins.Adapter, env)
	if err != nil {
		return nil, err
	}
	return &Adapter{proc: p, Env: env}, nil
}

// sourceNamespaces resolves the namespaces an ApiServerSource watches the
// way the reconciler does: its own namespace without a selector, otherwise
// the sorted names of the namespaces the selector matches.
func (b *Bed) sourceNamespaces(ctx context.Context, src *sourcesv1.ApiServerSource) ([]string, error) {
	if src.Spec.NamespaceSelector == nil {
		return []string{src.Namespace}, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(src.Spec.NamespaceSelector)
	if err != nil {
		return nil, fmt.Errorf("testbed: namespaceSelector of %s/%s: %w", src.Namespace, src.Name, err)
	}
	list, err := b.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	sort.Strings(names)
	return names, nil
}

// Stop ends the adapter; the bed's Stop also does.
func (a *Adapter) Stop() { a.proc.stop(3 * time.Second) }

// PID is the adapter's process id.
func (a *Adapter) PID() int { return a.proc.pid() }

// LogPath is the file holding the adapter's output.
func (a *Adapter) LogPath() string { return a.proc.logPath }

// adapterEnv turns the adapter container's environment into process
// environment entries. The only indirection the reconciler uses is the
// pod's namespace (the downward API), which is the source's namespace. Empty
// values are left out so the adapter applies its own defaults, as it does
// for the empty logging and observability configs of a bare cluster.
func adapterEnv(vars []corev1.EnvVar, namespace string) ([]string, error) {
	env := make([]string, 0, len(vars))
	for _, v := range vars {
		value := v.Value
		if v.ValueFrom != nil {
			ref := v.ValueFrom.FieldRef
			if ref == nil || ref.FieldPath != "metadata.namespace" {
				return nil, fmt.Errorf("testbed: adapter env %s: unsupported valueFrom %+v", v.Name, v.ValueFrom)
			}
			value = namespace
		}
		if value == "" {
			continue
		}
		env = append(env, v.Name+"="+value)
	}
	return env, nil
}
