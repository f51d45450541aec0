package function

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/launch"
	"github.com/keptn-sandbox/job-executor-knative/pkg/logctx"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry"
	"github.com/keptn-sandbox/job-executor-knative/pkg/wake"
)

// Start wires the function from cfg (the process environment under kn func
// and cmd/function). A setting that does not parse stops it: better no
// replica than one that mis-runs tasks.
func (f *Function) Start(ctx context.Context, cfg map[string]string) error {
	f.log = newLogger(lookup(cfg, "LOG_LEVEL"))
	set, err := readSettings(cfg)
	if err != nil {
		return err
	}
	metrics, err := telemetry.NewMetrics()
	if err != nil {
		return err
	}
	f.metrics = metrics
	kube, rc, err := kubeClient(lookup(cfg, "KUBECONFIG"), metrics.Transport)
	if err != nil {
		return err
	}
	pol, err := loadPolicy(lookup(cfg, "POLICY_FILE"), rc, policy.KubeConfigMaps{Client: kube, Namespace: lookup(cfg, "POD_NAMESPACE")})
	if err != nil {
		return err
	}
	if set.jobs, err = pol.ApplySettings(set.jobs); err != nil {
		return err
	}
	configs, out, err := keptnClients(cfg)
	if err != nil {
		return err
	}
	jobsFor, err := f.armedJobs(cfg, rc, kube, set)
	if err != nil {
		return err
	}
	responses := &reporter.Sender{
		Jobs:     func(ns string) claim.JobClient { return kube.BatchV1().Jobs(ns) },
		Sink:     out,
		Source:   lookup(cfg, "EVENT_SOURCE"),
		Holder:   set.holder,
		ClaimTTL: set.claimTTL,
	}
	obs, err := f.observer(cfg, kube)
	if err != nil {
		return err
	}
	responses.Observer = obs
	f.launcher = &launch.Handler{
		Configs: &launch.Configs{
			Resources: launch.NewCachedGetter(configs, 1024, 30*time.Second),
			Options:   []jobconfig.Option{jobconfig.WithLimits(pol.ConfigLimits())},
		},
		Jobs:        jobsFor,
		Settings:    set.jobs,
		Policy:      pol,
		Responses:   responses,
		Sink:        out,
		Integration: responses.Source,
		Log:         f.log,
		BusyWait:    5 * time.Second,
		Observer:    obs,
		RetryWindow: set.retryWindow,
		// The records of .started are written after the answer
		// (launch.Background); 64 at once is far above what a replica's
		// containerConcurrency (20) keeps in flight with a healthy API
		// server, and past it the answers wait for them again.
		Background: launch.NewBackground(64, set.claimTTL),
	}
	if f.reporter, err = f.newReporter(cfg, kube, responses, set); err != nil {
		return err
	}
	if err := f.wireGeneric(cfg, pol); err != nil {
		return err
	}
	// A Job whose .finished waited for a sibling's .started reports as
	// soon as the last .started is out (reporter.AnnotationSiblings).
	f.launcher.Settle = func(ctx context.Context, job *batchv1.Job) error {
		_, err := f.reporter.Reconcile(ctx, job)
		return err
	}
	f.ready.Store(true)
	f.log.Info("started", "job_namespace", set.jobs.Namespace, "holder", set.holder)
	return nil
}

// newReporter builds the reconciler that reports Jobs and sweeps.
func (f *Function) newReporter(cfg map[string]string, kube *kubeClients, responses *reporter.Sender, set settings) (*reporter.Reconciler, error) {
	return reporter.NewReconciler(kube, responses, reporter.Config{
		MaxEventBytes: finished.MaxEventBytesFor(set.maxEventKB),
		ManagedBy:     set.jobs.ManagedBy,
		Namespaces:    sweepNamespaces(cfg, set.jobs.Namespace),
		RecordTTL:     time.Duration(set.jobs.TTLSecondsAfterFinished) * time.Second,
		RetryWindow:   set.retryWindow,
		Log:           f.log,
	})
}

// armedJobs sets up the sweep's switch and returns the Job clients the
// launcher creates through: every create arms the sweep before the Job exists
// (docs/completion.md, Scale to zero).
func (f *Function) armedJobs(cfg map[string]string, rc *rest.Config, kube *kubeClients, set settings) (func(ns string) launch.JobClient, error) {
	var err error
	if f.wake, err = sweepSwitch(cfg, rc, set.holder, set.claimTTL); err != nil {
		return nil, err
	}
	return func(ns string) launch.JobClient {
		return &armingJobs{JobClient: kube.BatchV1().Jobs(ns), wake: f.wake, log: f.log}
	}, nil
}

// settings are the values Start reads from the environment, parsed before
// anything is wired so that a bad one stops the start with its name.
type settings struct {
	jobs        jobs.Settings
	claimTTL    time.Duration
	retryWindow time.Duration
	maxEventKB  int
	holder      string
}

func readSettings(cfg map[string]string) (settings, error) {
	var s settings
	var err error
	if s.jobs, err = JobSettings(cfg); err != nil {
		return s, err
	}
	s.claimTTL, err = time.ParseDuration(lookup(cfg, "CLAIM_TTL"))
	if err != nil || s.claimTTL <= 0 {
		return s, fmt.Errorf("CLAIM_TTL %q: want a positive duration such as 2m", lookup(cfg, "CLAIM_TTL"))
	}
	s.retryWindow, err = time.ParseDuration(lookup(cfg, "RETRY_WINDOW"))
	if err != nil || s.retryWindow <= 0 {
		return s, fmt.Errorf("RETRY_WINDOW %q: want a positive duration such as 45s", lookup(cfg, "RETRY_WINDOW"))
	}
	s.maxEventKB, err = strconv.Atoi(lookup(cfg, "KEPTN_MAX_EVENT_SIZE_KB"))
	if err != nil || s.maxEventKB < 1 {
		return s, fmt.Errorf("KEPTN_MAX_EVENT_SIZE_KB %q: want a positive number of KB, as the api-service's MAX_EVENT_SIZE_KB", lookup(cfg, "KEPTN_MAX_EVENT_SIZE_KB"))
	}
	if s.holder = lookup(cfg, "POD_NAME"); s.holder == "" {
		s.holder, _ = os.Hostname()
	}
	return s, nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	// logctx adds each event's attributes (Keptn context, event id, Job).
	return slog.New(logctx.NewHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})))
}

// loadPolicy reads the operator's policy (docs/security.md); without one
// only the hard rules apply. A policy that does not parse stops the start.
func loadPolicy(path string, rc *rest.Config, cms policy.ConfigMapReader) (*policy.Policy, error) {
	meta, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes metadata client: %w", err)
	}
	secrets := policy.WithSecrets(policy.MetadataSecrets{Client: meta})
	if path == "" {
		return policy.Default(secrets), nil
	}
	p, err := policy.Load(path, secrets, policy.WithConfigMaps(cms))
	if err != nil {
		return nil, fmt.Errorf("POLICY_FILE %s:\n%w", path, err)
	}
	return p, nil
}

// JobSettings reads the Job settings from the environment as jobctl reads
// them from a file (jobs.SettingsTable), with the two defaults only a
// deployed function has: its own namespace, and no Keptn to fetch from when
// configs come from KEPTN_CONFIG_DIR.
func JobSettings(cfg map[string]string) (jobs.Settings, error) {
	env := maps.Clone(cfg)
	if strings.TrimSpace(cfg["JOB_NAMESPACE"]) == "" {
		env["JOB_NAMESPACE"] = cfg["POD_NAMESPACE"]
	}
	if resourceURL(cfg) == "" {
		// Local config dir: task files cannot be fetched from Keptn; the
		// fetcher gets a URL that says so in its error.
		env["KEPTN_RESOURCE_URL"] = "http://keptn-resource-service.invalid"
	}
	return jobs.SettingsFromEnv(env)
}

func resourceURL(cfg map[string]string) string {
	if u := lookup(cfg, "KEPTN_RESOURCE_URL"); u != "" {
		return u
	}
	if u := lookup(cfg, "KEPTN_API_URL"); u != "" {
		return strings.TrimSuffix(u, "/") + "/resource-service"
	}
	return ""
}

// keptnClients are where configs come from and where events go. Towards
// Keptn both go through its API (the gateway, normally), with the same
// trust, so they share one transport: one pool of connections, and the
// first event's .started does not open a second connection (a second TLS
// handshake) beside the config's.
func keptnClients(cfg map[string]string) (resources.ResourceGetter, sink.Sender, error) {
	var keptn *http.Client
	if lookup(cfg, "KEPTN_API_URL") != "" && lookup(cfg, "K_SINK") == "" {
		tc, err := keptnTLS(cfg)
		if err != nil {
			return nil, nil, err
		}
		keptn = sink.NewHTTPClient(tc)
	}
	configs, err := resourceSource(cfg, keptn)
	if err != nil {
		return nil, nil, err
	}
	out, err := eventSink(cfg, keptn)
	return configs, out, err
}

// resourceSource is where configs come from; keptn, if set, is the client
// towards Keptn whose transport it shares.
func resourceSource(cfg map[string]string, keptn *http.Client) (resources.ResourceGetter, error) {
	if dir := lookup(cfg, "KEPTN_CONFIG_DIR"); dir != "" {
		return resources.NewDirSource(dir)
	}
	u := resourceURL(cfg)
	if u == "" {
		return nil, fmt.Errorf("no config source: set KEPTN_API_URL (or KEPTN_RESOURCE_URL), or KEPTN_CONFIG_DIR")
	}
	opts := []resources.ClientOption{resources.WithToken(lookup(cfg, "KEPTN_API_TOKEN"))}
	switch {
	case keptn != nil:
		// Its TLS is keptnTLS: KEPTN_CA_FILE and KEPTN_INSECURE_SKIP_VERIFY.
		opts = append(opts, resources.WithTransport(keptn.Transport))
	default:
		if ca := lookup(cfg, "KEPTN_CA_FILE"); ca != "" {
			opts = append(opts, resources.WithCAFile(ca))
		}
		if insecure, _ := strconv.ParseBool(lookup(cfg, "KEPTN_INSECURE_SKIP_VERIFY")); insecure {
			opts = append(opts, resources.WithInsecureSkipVerify())
		}
	}
	return resources.NewResourceClient(u, opts...)
}

// eventSink is where events go: K_SINK, else Keptn's API through keptn,
// else the log.
func eventSink(cfg map[string]string, keptn *http.Client) (sink.Sender, error) {
	if target := lookup(cfg, "K_SINK"); target != "" {
		return sink.NewCloudEvents(target, nil)
	}
	if u := lookup(cfg, "KEPTN_API_URL"); u != "" {
		return sink.NewKeptnAPI(u, lookup(cfg, "KEPTN_API_TOKEN"), keptn), nil
	}
	return &sink.Log{W: os.Stdout}, nil
}

// keptnTLS is the function's TLS towards Keptn's API for events, the same
// trust its resource client has (resources.WithCAFile): nil keeps Go's.
func keptnTLS(cfg map[string]string) (*tls.Config, error) {
	insecure, _ := strconv.ParseBool(lookup(cfg, "KEPTN_INSECURE_SKIP_VERIFY"))
	ca := lookup(cfg, "KEPTN_CA_FILE")
	switch {
	case ca == "" && !insecure:
		return nil, nil
	case ca != "" && insecure:
		return nil, fmt.Errorf("KEPTN_CA_FILE and KEPTN_INSECURE_SKIP_VERIFY contradict each other; choose one")
	}
	var pem []byte
	if ca != "" {
		var err error
		if pem, err = os.ReadFile(ca); err != nil {
			return nil, fmt.Errorf("KEPTN_CA_FILE: %w", err)
		}
	}
	return resources.TLSConfig(pem, ca, insecure)
}

// sweepNamespaces are the namespaces the ping sweep lists: every namespace
// Jobs may go to. Listing cluster-wide would need cluster-wide RBAC.
func sweepNamespaces(cfg map[string]string, jobNamespace string) []string {
	var out []string
	for _, ns := range strings.Split(lookup(cfg, "JOB_NAMESPACES"), ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	if len(out) == 0 {
		out = []string{jobNamespace}
	}
	return out
}

// sweepSwitch is the PingSource switch SWEEP_PINGSOURCE names (nil:
// none). Hold is the claims' TTL: the time after which a silent replica is
// taken for dead everywhere else too.
func sweepSwitch(cfg map[string]string, rc *rest.Config, holder string, hold time.Duration) (*wake.Switch, error) {
	ref := lookup(cfg, "SWEEP_PINGSOURCE")
	if ref == "" {
		return nil, nil
	}
	ns, name, err := pingSourceRef(ref)
	if err != nil {
		return nil, err
	}
	// lookup skips defaults with spaces (they describe); cron's are literal.
	armed := firstOf(cfg["SWEEP_SCHEDULE"], envDefault("SWEEP_SCHEDULE"))
	idle := firstOf(cfg["SWEEP_IDLE_SCHEDULE"], envDefault("SWEEP_IDLE_SCHEDULE"))
	if armed == idle {
		return nil, fmt.Errorf("SWEEP_SCHEDULE and SWEEP_IDLE_SCHEDULE are both %q: the switch tells armed from idle by the schedule", armed)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	return &wake.Switch{
		Client: dyn.Resource(wake.PingSources).Namespace(ns),
		Name:   name,
		Armed:  armed,
		Idle:   idle,
		Holder: holder,
		Hold:   hold,
	}, nil
}

// pingSourceRef splits SWEEP_PINGSOURCE's <namespace>/<name>.
func pingSourceRef(ref string) (namespace, name string, err error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || strings.TrimSpace(ns) != ns || strings.TrimSpace(name) != name || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("SWEEP_PINGSOURCE %q: want <namespace>/<name>", ref)
	}
	return ns, name, nil
}

// armingJobs arms the sweep before every Job it creates and checks it is
// still armed after: the orderings docs/completion.md argues ("Scale to
// zero").
type armingJobs struct {
	launch.JobClient
	wake *wake.Switch
	log  *slog.Logger
}

func (c *armingJobs) Create(ctx context.Context, job *batchv1.Job, opts metav1.CreateOptions) (*batchv1.Job, error) {
	if err := c.wake.Arm(ctx); err != nil {
		// Not an API error of the Job's own: the caller retries, as when
		// the API server does not answer.
		return nil, err
	}
	created, err := c.JobClient.Create(ctx, job, opts)
	if _, aerr := c.wake.EnsureArmed(ctx); aerr != nil {
		// The arming before the create holds a disarm off for Hold;
		// the watch, or the safety sweep, covers the rest.
		c.log.WarnContext(ctx, "checking the sweep after creating a job", "error", errString(aerr))
	}
	return created, err
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
