// Command broker-filter is Knative Eventing's MTChannelBasedBroker filter
// (knative.dev/eventing/cmd/broker/filter) at the eventing version this
// module requires, run by the test bed as a process.
//
// It is upstream's main with three changes, none in the event path:
//   - it serves plain HTTP on 127.0.0.1:$FILTER_PORT only. Upstream listens
//     on every interface (kncloudevents.HTTPEventReceiver binds ":port") and
//     also serves HTTPS; a test bed stays on loopback and has no TLS secret.
//   - it skips the OIDC discovery upstream's auth.NewVerifier runs at start
//     (a request to https://kubernetes.default.svc). The verifier is only
//     consulted when the oidc-authentication feature is on, and the bed's
//     config-features leaves it off.
//   - no EventType auto-creation (a feature flag that is off by default).
//
// The handler (filter.NewHandler with the Trigger, Broker and Subscription
// informers), so the Trigger's filters (Knative's subscriptionsapi code for
// `filters`, the attributes filter for `filter`), the TTL handling, the
// dispatch to the subscriber and the status codes it answers with, are
// upstream's.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	configmapinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/configmap/filtered"
	filteredFactory "knative.dev/pkg/client/injection/kube/informers/factory/filtered"
	configmap "knative.dev/pkg/configmap/informer"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/logging"
	k8sruntime "knative.dev/pkg/observability/runtime/k8s"
	"knative.dev/pkg/signals"
	"knative.dev/pkg/system"

	"knative.dev/eventing/cmd/broker"
	"knative.dev/eventing/pkg/apis/feature"
	"knative.dev/eventing/pkg/auth"
	"knative.dev/eventing/pkg/broker/filter"
	brokerinformer "knative.dev/eventing/pkg/client/injection/informers/eventing/v1/broker"
	triggerinformer "knative.dev/eventing/pkg/client/injection/informers/eventing/v1/trigger"
	subscriptioninformer "knative.dev/eventing/pkg/client/injection/informers/messaging/v1/subscription"
	"knative.dev/eventing/pkg/eventingtls"
	o11yconfigmap "knative.dev/eventing/pkg/observability/configmap"
	"knative.dev/eventing/pkg/observability/otel"
	"knative.dev/eventing/pkg/requestreply"
)

const component = "mt_broker_filter"

type envConfig struct {
	Namespace     string `envconfig:"NAMESPACE" required:"true"`
	PodName       string `envconfig:"POD_NAME" required:"true"`
	ContainerName string `envconfig:"CONTAINER_NAME" required:"true"`
	Port          int    `envconfig:"FILTER_PORT" required:"true"`
}

func main() {
	ctx := signals.NewContext()

	cfg := injection.ParseAndGetRESTConfigOrDie()
	ctx = injection.WithConfig(ctx, cfg)

	var env envConfig
	if err := envconfig.Process("", &env); err != nil {
		log.Fatal("Failed to process env var: ", err)
	}

	ctx = filteredFactory.WithSelectors(ctx,
		auth.OIDCLabelSelector,
		eventingtls.TrustBundleLabelSelector,
	)

	ctx, informers := injection.Default.SetupInformers(ctx, cfg)
	ctx = injection.WithConfig(ctx, cfg)
	kubeClient := kubeclient.Get(ctx)

	loggingConfig, err := broker.GetLoggingConfig(ctx, system.Namespace(), logging.ConfigMapName())
	if err != nil {
		log.Fatal("Error loading/parsing logging configuration:", err)
	}
	sl, atomicLevel := logging.NewLoggerFromConfig(loggingConfig, component)
	logger := sl.Desugar()
	defer func() { _ = sl.Sync() }()

	logger.Info("Starting the Broker Filter")

	pprof := k8sruntime.NewProfilingServer(sl.Named("pprof"))
	mp, tp := otel.SetupObservabilityOrDie(ctx, "broker.filter", sl, pprof)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = mp.Shutdown(ctx)
		_ = tp.Shutdown(ctx)
	}()

	configMapWatcher := configmap.NewInformedWatcher(kubeClient, system.Namespace())
	configMapWatcher.Watch(o11yconfigmap.Name(), pprof.UpdateFromConfigMap)
	configMapWatcher.Watch(logging.ConfigMapName(), logging.UpdateLevelFromConfigMap(sl, atomicLevel, component))

	trustBundleConfigMapLister := configmapinformer.Get(ctx, eventingtls.TrustBundleLabelSelector).Lister().ConfigMaps(system.Namespace())

	featureStore := feature.NewStore(logging.FromContext(ctx).Named("feature-config-store"))
	featureStore.WatchConfigs(configMapWatcher)
	ctxFunc := func(ctx context.Context) context.Context { return featureStore.ToContext(ctx) }

	handler, err := filter.NewHandler(
		logger,
		// Upstream: auth.NewVerifier(...), which runs OIDC discovery at once.
		// The filter consults it only while OIDC is on.
		&auth.Verifier{},
		auth.NewOIDCTokenProvider(ctx),
		triggerinformer.Get(ctx),
		brokerinformer.Get(ctx),
		subscriptioninformer.Get(ctx),
		trustBundleConfigMapLister,
		ctxFunc,
		mp,
		tp,
	)
	if err != nil {
		logger.Fatal("Error creating Handler", zap.Error(err))
	}

	if err = configMapWatcher.Start(ctx.Done()); err != nil {
		logger.Warn("Failed to start ConfigMap watcher", zap.Error(err))
	}
	if featureStore.IsEnabled(feature.OIDCAuthentication) {
		logger.Fatal("the test bed's filter does not verify OIDC tokens; leave oidc-authentication off")
	}

	logger.Info("Starting informers.")
	if err := controller.StartInformers(ctx.Done(), informers...); err != nil {
		logger.Fatal("Failed to start informers", zap.Error(err))
	}

	if err := requestreply.RegisterCESQLVerifyCorrelationIdFilter(ctx); err != nil {
		logger.Fatal("failed to register KN_VERIFY_CORRELATION_ID to CESQL runtime", zap.Error(err))
	}

	if err := serve(ctx, env.Port, otel.NewHandler(handler, "broker.filter", mp, tp)); err != nil {
		logger.Fatal("server failed", zap.Error(err))
	}
}

// serve is what upstream's server manager does for plain HTTP, on loopback.
func serve(ctx context.Context, port int, h http.Handler) error {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
