package function

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// envVar documents one setting. Env is the single source for Start and
// `function --help`; the configuration table of docs/deploy.md and the
// kustomize ConfigMap are checked against it (env_test.go).
type envVar struct {
	Name    string
	Default string
	Help    string
}

// Env is every environment variable the function reads: its own, then the
// Job settings it shares with jobctl (jobs.SettingsTable).
var Env = append(append(ownEnv, genericEnv...), jobEnv()...)

// ownEnv are the variables of the function itself, not of the Jobs.
var ownEnv = []envVar{
	{"PORT", "8080", "HTTP port of the CloudEvents receiver and health endpoints"},
	{"KUBECONFIG", "", "kubeconfig to use; empty means in-cluster config"},
	{"POD_NAMESPACE", "", "the function's namespace (downward API); the default of JOB_NAMESPACE"},
	{"JOB_NAMESPACES", "$JOB_NAMESPACE", "comma-separated namespaces the ping sweep lists for unreported Jobs (every namespace actions may use)"},
	{"KEPTN_API_TOKEN", "", "Keptn API token (x-token); never logged, never given to task containers"},
	{"KEPTN_CA_FILE", "", "PEM file of the CAs the function trusts for Keptn's TLS, resources and events (replaces the system roots); the fetcher gets its own from KEPTN_CA_CONFIGMAP"},
	{"KEPTN_CONFIG_DIR", "", "read job/config.yaml from this local directory (layout project/<p>[/stage/<s>[/service/<v>]]/resource/<uri>) instead of Keptn"},
	{"KEPTN_MAX_EVENT_SIZE_KB", "64", "the api-service's MAX_EVENT_SIZE_KB: .finished (with its logs' head and tail) is fitted below it; set it when the operator lowered Keptn's. A .finished Keptn still refuses as too large is sent again smaller (docs/completion.md)"},
	{"K_SINK", "", "send .started/.finished as CloudEvents to this URL instead of Keptn's API"},
	{"EVENT_SOURCE", "job-executor-knative", "CloudEvents source of the events we send"},
	{"POD_NAME", "hostname", "names this replica in claims on Jobs"},
	{"CLAIM_TTL", "2m", "how long a claim to send a response holds before another replica may take over"},
	{"RETRY_WINDOW", "45s", "how long a failure that may pass (a registry or the API server not answering, Keptn's resource-service answering 500 for an unknown commit) is retried, counted from the triggered event's time; then Keptn gets an errored .finished naming the cause. Keep it below the Broker's retry window (the shipped Trigger retries for about a minute) and Keptn's TASK_STARTED_WAIT_DURATION (docs/completion.md)"},
	{"SWEEP_PINGSOURCE", "", "namespace/name of the function's PingSource; set: the function arms it (SWEEP_SCHEDULE) before it creates a Job and sets it back to SWEEP_IDLE_SCHEDULE once no Job is unreported, so an idle cluster wakes nothing (docs/completion.md, Scale to zero). Empty: the PingSource keeps the schedule it was applied with; needs get and update on that PingSource"},
	{"SWEEP_SCHEDULE", "* * * * *", "the PingSource's schedule while Jobs are unreported: the longest a .finished waits in ping-only mode"},
	{"SWEEP_IDLE_SCHEDULE", "0 * * * *", "the PingSource's schedule while no Job is unreported: the safety sweep (a cron schedule as PingSource takes it; rarer is cheaper)"},
	{"POLICY_FILE", "", "operator policy YAML (docs/security.md), mounted from a ConfigMap; empty means only the built-in hard rules; an invalid policy stops the start"},
	{"DOCKER_CONFIG", "", "directory of a Docker config.json with registry credentials, used to check image signatures (read by the registry client)"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
	{"METRICS_PORT", "9095", "port of the Prometheus metrics endpoint /metrics (docs/observability.md; not 9090 or 9091, Knative's queue-proxy has them)"},
	{"KUBE_EVENTS", "true", "record Kubernetes Events on each Job (created, stopped, .finished sent); needs create and patch on events.events.k8s.io"},
}

func jobEnv() []envVar {
	out := make([]envVar, len(jobs.SettingsTable))
	for i, s := range jobs.SettingsTable {
		out[i] = envVar{s.Env, s.Default, s.Help + " (jobctl: " + s.Key + ")"}
	}
	return out
}

var markdownEscape = strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;")

// MarkdownEnv writes Env as the Markdown table of docs/deploy.md.
func MarkdownEnv(w io.Writer) {
	fmt.Fprintln(w, "| Variable | Default | Meaning |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, v := range Env {
		def := ""
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s |\n", v.Name, def, markdownEscape.Replace(v.Help))
	}
}

// PrintEnv writes the table for --help.
func PrintEnv(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range Env {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, v.Default, v.Help)
	}
	tw.Flush()
}

// lookup reads name from cfg, falling back to the documented literal default
// (defaults written as "$X or y" or "hostname" are resolved by the caller).
func lookup(cfg map[string]string, name string) string {
	if v := strings.TrimSpace(cfg[name]); v != "" {
		return v
	}
	for _, v := range Env {
		if v.Name == name && !strings.ContainsAny(v.Default, "$ ") && v.Default != "hostname" {
			return v.Default
		}
	}
	return ""
}

// envDefault is name's default as the table writes it.
func envDefault(name string) string {
	for _, v := range Env {
		if v.Name == name {
			return v.Default
		}
	}
	return ""
}
