package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/launch"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy"
)

type renderOptions struct {
	config   string
	event    string
	settings string
	policy   string
	level    string
}

func newRenderCmd() *cobra.Command {
	var o renderOptions
	var keys bytes.Buffer
	printSettingsTable(&keys)
	cmd := &cobra.Command{
		Use:   "render --config FILE --event FILE [--settings FILE]",
		Short: "Print the Kubernetes Jobs the function would create for an event",
		Long: `Load the config as the function does (as job/config.yaml at --level of the
event's scope), match it against the event and print every Job the function
would create, as YAML documents separated by "---", in the order of the
actions in the jobconfig. No cluster is needed.

The event is a CloudEvent in structured JSON, as Keptn sends it (see
'jobctl event'). Of Keptn's events only sh.keptn.event.<task>.triggered
start tasks. An event of any type not Keptn's (see 'jobctl event generic')
is rendered as the function's generic mode runs it: --config is then the
operator's config.yaml (GENERIC_CONFIG_DIR) and --level does not apply.

When the config is invalid, the errors are printed as the function reports
them (to Keptn, as sh.keptn.log.error) and the exit code is 1. An action that
matches but cannot run (a jsonpath that finds nothing in this event, a
workspace over the ceiling, a policy refusal) is reported with the message
its errored .finished event would carry; the other actions' Jobs are still
printed, and the exit code is 1. No matching action prints nothing (and a
note on stderr) and exits 0.

Each matching action is first admitted by the operator's policy (--policy
FILE, else the default policy, as in the function; see 'jobctl validate
--help'): plugin tasks become the catalog's containers, images a signature
rule covers are verified and pinned by digest, and the built Job is checked
against the hard rules: Kubernetes' own Pod Security evaluator at
"restricted" (latest of k8s.io/pod-security-admission v0.33.5, i.e.
Kubernetes v1.33), whose failed checks are printed in the API server's
words, then the rules of ours beyond it. An action the policy cannot decide on from here (a
registry out of reach) is reported on stderr as not checked, and the exit
code is 2. Secret labels live in the cluster: each Secret a task reads is a
warning on stderr naming the label it must carry, and the Job is printed.

Jobs are built with the defaults of jobs.DefaultSettings; --settings FILE is a
YAML mapping that overrides them. Keys (values as in the function's
environment variable where there is one):

` + keys.String(),
		Example: `  jobctl render --config job/config.yaml --event event.json

  # the event from jobctl event, straight from a pipe
  jobctl event test --project sockshop --stage dev --service carts \
    --data '{"test": {"teststrategy": "locust"}}' |
    jobctl render --config job/config.yaml --event -

  # with the operator's settings, e.g. settings.yaml:
  #   namespace: keptn-jobs
  #   fetcherImage: registry.example/initcontainer:1.0.0
  #   taskDeadline: 10m
  jobctl render --config job/config.yaml --event event.json --settings settings.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRender(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "job/config.yaml to render (required)")
	f.StringVar(&o.event, "event", "", "CloudEvent JSON file, - for stdin (required)")
	f.StringVar(&o.settings, "settings", "", "YAML file overriding the operator settings")
	f.StringVar(&o.policy, "policy", "", "operator policy file (the function's POLICY_FILE; default: the built-in policy)")
	f.StringVar(&o.level, "level", "service", "level of Keptn's repository the config is at: service, stage or project")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("event")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.MarkFlagFilename("event", "json")
	_ = cmd.MarkFlagFilename("settings", "yaml", "yml")
	_ = cmd.MarkFlagFilename("policy", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("level", cobra.FixedCompletions(levels, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// readSettings reads --settings over jobs.DefaultSettings; "" means none.
func readSettings(path string) (jobs.Settings, error) {
	if path == "" {
		return jobs.DefaultSettings(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return jobs.Settings{}, usage("%w", err)
	}
	s, err := parseSettings(path, data)
	if err != nil {
		return s, invalid("invalid settings:\n%w", err)
	}
	return s, nil
}

func runRender(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, o renderOptions) error {
	if !slices.Contains(levels, o.level) {
		return usage("--level %q: want service, stage or project", o.level)
	}
	if o.config == "-" && o.event == "-" {
		return usage("--config and --event cannot both be read from stdin")
	}
	pol, settings, err := policyAndSettings(o.policy, o.settings)
	if err != nil {
		return err
	}
	raw, err := readInput(stdin, o.event)
	if err != nil {
		return usage("%w", err)
	}
	ev, err := parseEventFile(inputName(o.event), raw)
	if err != nil {
		return invalid("%w", err)
	}
	data, err := readInput(stdin, o.config)
	if err != nil {
		return usage("%w", err)
	}

	out, err := renderJobs(ctx, pol, localConfig{level: o.level, data: data}, ev, settings)
	for _, w := range out.warnings {
		fmt.Fprintln(stderr, asWarning(w))
	}
	if err != nil {
		return err
	}
	for _, f := range out.failed {
		fmt.Fprintf(stderr, "action %q (actions[%d]) would fail; its .finished event (status errored, result fail) says:\n%s\n", f.action, f.index, f.message)
	}
	for _, u := range out.unchecked {
		fmt.Fprintf(stderr, "jobctl: action %q (actions[%d]) not checked against the policy, no Job printed: %s\n", u.action, u.index, u.message)
	}
	for _, v := range out.verified {
		fmt.Fprintln(stderr, "jobctl:", v)
	}
	if out.matched == 0 {
		fmt.Fprintf(stderr, "jobctl: no action of %s matches %s; the function would ignore the event\n", out.file, ev.Type)
	}
	docs := make([]string, 0, len(out.jobs))
	for _, job := range out.jobs {
		y, err := yaml.Marshal(job)
		if err != nil {
			return fmt.Errorf("encoding job %s: %w", job.Name, err)
		}
		docs = append(docs, string(y))
	}
	fmt.Fprint(stdout, strings.Join(docs, "---\n"))
	switch {
	case len(out.unchecked) > 0:
		return &exitError{code: exitUsage, err: errSilent}
	case len(out.failed) > 0:
		return &exitError{code: exitInvalid, err: errSilent}
	}
	return nil
}

type failedAction struct {
	index   int
	action  string
	message string
}

type rendered struct {
	file    string
	matched int
	jobs    []*batchv1.Job
	// failed are actions the function would fail; unchecked are actions the
	// policy could not decide on without the cluster or a registry.
	failed    []failedAction
	unchecked []failedAction
	warnings  jobconfig.ErrorList
	// verified says which signature rule verified which image.
	verified []string
}

// renderJobs mirrors launch.Handler.Handle without a cluster: load the
// config, match, build one Job per matching action; an action whose Job
// cannot be built is failed with the message the handler would send.
func renderJobs(ctx context.Context, pol *policy.Policy, src localConfig, ev *keptn.TaskEvent, s jobs.Settings) (rendered, error) {
	var out rendered
	cfg, err := loadConfig(ctx, pol, src, ev)
	if cfg != nil {
		out.file, out.warnings = cfg.File, cfg.Warnings
	}
	var list jobconfig.ErrorList
	switch {
	case errors.As(err, &list):
		return out, invalidConfig(cfg, ev, list)
	case err != nil:
		return out, usage("loading config: %w", err)
	}
	matches, unread := cfg.MatchEvent(ev.Type, jobconfig.NewEventReader(ctx, ev.Document()))
	// A filter over its budget does not match, as in the function (which
	// logs it); say why.
	out.warnings = append(out.warnings, unread...)
	out.matched = len(matches)
	for _, i := range matches {
		job, warns, err := pol.BuildWarn(ctx, cfg, i, ev, s)
		if len(warns) > len(cfg.Warnings) {
			out.warnings = append(out.warnings, warns[len(cfg.Warnings):]...)
		}
		switch {
		case policy.IsUnavailable(err):
			out.unchecked = append(out.unchecked, failedAction{index: i, action: cfg.Actions[i].Name, message: err.Error()})
			continue
		case err != nil:
			out.failed = append(out.failed, failedAction{index: i, action: cfg.Actions[i].Name, message: err.Error()})
			continue
		}
		out.jobs = append(out.jobs, job)
		for _, c := range job.Spec.Template.Spec.Containers {
			out.verified = append(out.verified, verifications(ctx, pol, fmt.Sprintf("Job %s container %s", job.Name, c.Name), c.Image)...)
		}
	}
	return out, nil
}

// loadConfig loads src as the function would for ev: job/config.yaml at
// a level of Keptn's repository, or a generic event's config.yaml.
func loadConfig(ctx context.Context, pol *policy.Policy, src localConfig, ev *keptn.TaskEvent) (*jobconfig.Config, error) {
	if ev.Generic {
		return jobconfig.Parse(launch.GenericConfigFile, src.data, parseOptions(pol)...)
	}
	configs := &launch.Configs{Resources: src, Options: parseOptions(pol)}
	return configs.Load(ctx, ev)
}

// invalidConfig says what the handler's invalidConfig sends: a log.error
// with every error, and an errored .finished for each matching action with
// that action's errors.
func invalidConfig(cfg *jobconfig.Config, ev *keptn.TaskEvent, list jobconfig.ErrorList) error {
	var b strings.Builder
	b.WriteString("invalid job config:\n" + list.Error())
	if cfg != nil {
		for _, i := range cfg.Match(ev.Type, ev.Document()) {
			which := fmt.Sprintf("the errors in actions[%d]", i)
			if len(list.ForAction(i)) == 0 {
				which = "all of these errors"
			}
			fmt.Fprintf(&b, "\naction %q (actions[%d]) matches: its .finished event (status errored, result fail) carries %s", cfg.Actions[i].Name, i, which)
		}
	}
	return invalid("%s", b.String())
}
