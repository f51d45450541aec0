// Command apiserver-receive-adapter is Knative Eventing's ApiServerSource
// receive adapter (knative.dev/eventing/cmd/apiserver_receive_adapter) at the
// eventing version this module requires, run by the test bed as a process.
//
// It is upstream's main with one change: the health-probe server is disabled.
// Upstream serves probes on ":8080", a constant (knative.dev/pkg
// injection.HealthCheckDefaultPort) that no environment variable overrides;
// it would listen on every interface and collide between concurrent adapters.
// Event production (apiserver.NewAdapter through adapter.MainWithContext) is
// unchanged, so the CloudEvents are the ones a cluster's adapter sends.
package main

import (
	filteredFactory "knative.dev/pkg/client/injection/kube/informers/factory/filtered"
	"knative.dev/pkg/signals"

	"knative.dev/eventing/pkg/adapter/apiserver"
	"knative.dev/eventing/pkg/adapter/v2"
	"knative.dev/eventing/pkg/auth"
	"knative.dev/eventing/pkg/eventingtls"
)

// component is upstream's component name; it names the adapter's logger and
// metrics.
const component = "apiserversource"

func main() {
	ctx := signals.NewContext()
	ctx = adapter.WithInjectorEnabled(ctx)
	ctx = adapter.WithHealthProbesDisabled(ctx)

	ctx = filteredFactory.WithSelectors(ctx,
		auth.OIDCLabelSelector,
		eventingtls.TrustBundleLabelSelector,
	)

	adapter.MainWithContext(ctx, component, apiserver.NewEnvConfig, apiserver.NewAdapter)
}
