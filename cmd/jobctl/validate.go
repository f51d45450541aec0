package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
)

// Severities of a diagnostic in -o json.
const (
	severityError   = "error"
	severityWarning = "warning"
)

// diagnostic is one line of `validate -o json`. Unlike jobconfig.FieldError it
// always has every key, so editors and CI scripts need no special cases.
type diagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Path     string `json:"path"`
	Message  string `json:"message"`
	Severity string `json:"severity"`
}

func diagnostics(list jobconfig.ErrorList, severity string) []diagnostic {
	out := make([]diagnostic, 0, len(list))
	for _, e := range list {
		out = append(out, diagnostic{File: e.File, Line: e.Line, Column: e.Column, Path: e.Path, Message: e.Message, Severity: severity})
	}
	return out
}

// checkConfig parses one file exactly as the function does (same options)
// and returns its errors and warnings and the jobconfig.
func checkConfig(file string, data []byte, opts ...jobconfig.Option) (cfg *jobconfig.Config, errs, warns jobconfig.ErrorList) {
	cfg, err := jobconfig.Parse(file, data, opts...)
	if err != nil && !errors.As(err, &errs) {
		// Parse documents ErrorList as its only error type; keep any other
		// error visible rather than calling the file valid.
		errs = jobconfig.ErrorList{{File: file, Line: 1, Message: err.Error()}}
	}
	if cfg != nil {
		warns = cfg.Warnings
	}
	return cfg, errs, warns
}

// asWarning renders a warning in the error format with "warning: " before
// the message, so the same editor patterns (file:line:col: ...) pick it up.
func asWarning(w *jobconfig.FieldError) string {
	c := *w
	c.Message = "warning: " + c.Message
	return c.Error()
}

type validateOptions struct {
	output   string
	policy   string
	settings string
}

func newValidateCmd() *cobra.Command {
	var o validateOptions
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check job/config.yaml files the way the function parses them",
		Long: `Parse and validate each FILE with the function's parser (pkg/jobconfig).

Valid files print nothing (warnings go to stderr) and exit 0. Otherwise every
problem is printed to stdout as

  file:line:column: field.path: message

and the exit code is 1. With -o json, stdout is one JSON array of objects
{file, line, column, path, message, severity} holding errors and warnings
(severity "error" or "warning"; column 0 and path "" when unknown), [] when
there is nothing to say.

The parser already refuses what no policy allows: the hard rules on a
securityContext (privileged, allowPrivilegeEscalation, root, seccomp
Unconfined, procMount Unmasked), reserved jobs.keptn.sh/ annotations, files
entries the file fetcher would refuse, and configs past the size and cost
bounds; render and the function refuse them at the same line.

Every action of a valid file is then checked against the operator's
policy (docs/security.md), as the function checks it: with --policy FILE
that policy's images (registries, allow and deny patterns, digests, cosign
signatures), plugins and their parameters, namespaces, service accounts,
capabilities, resources and parse limits; without it the default policy,
as in the function without POLICY_FILE (no plugin catalog, the hard
rules and the Secrets' built-in opt-in label). Refusals are printed like
config errors. Signature rules ask the registries (credentials from the
Docker config, as docker and cosign read them); an action the policy cannot
decide on from here is reported on stderr as not checked, and the exit code
is 2. Secret labels live in the cluster: each Secret a task reads (env,
secretKeyRef, imagePullSecrets) is a warning naming the label it must
carry; the Keptn token's Secret is refused here already. --settings FILE (see 'jobctl render --help') sets the
operator's default namespace and service account, which the policy always
allows, and its resource defaults.

Some problems only show with an event (a jsonpath that finds nothing in it,
event labels that cannot become LABELS_* variables, a workspace over the
operator's ceiling): use 'jobctl render' for those.`,
		Example: `  jobctl validate job/config.yaml
  jobctl validate $(git ls-files '*job/config.yaml')
  jobctl validate -o json job/config.yaml | jq -r '.[] | select(.severity == "error") | .message'
  jobctl validate --policy policy.yaml job/config.yaml`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("validate needs at least one FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o, args)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&o.policy, "policy", "", "operator policy file (the function's POLICY_FILE; default: the built-in policy)")
	cmd.Flags().StringVar(&o.settings, "settings", "", "YAML file of operator settings (default namespace, service account, resources)")
	_ = cmd.MarkFlagFilename("policy", "yaml", "yml")
	_ = cmd.MarkFlagFilename("settings", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	}
	return cmd
}

func runValidate(ctx context.Context, stdout, stderr io.Writer, o validateOptions, files []string) error {
	if o.output != "text" && o.output != "json" {
		return usage("--output %q: want text or json", o.output)
	}
	pol, settings, err := policyAndSettings(o.policy, o.settings)
	if err != nil {
		return err
	}
	all := []diagnostic{}
	failed, unreadable := false, false
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "jobctl: %v\n", err)
			unreadable = true
			continue
		}
		cfg, errs, warns := checkConfig(file, data, parseOptions(pol)...)
		if len(errs) == 0 {
			perrs, pwarns, unchecked, verified := admitAll(ctx, pol, cfg, settings)
			errs = perrs
			warns = append(warns, pwarns...)
			sortByPosition(errs)
			for _, u := range unchecked {
				fmt.Fprintln(stderr, "jobctl:", u)
			}
			for _, v := range verified {
				fmt.Fprintln(stderr, "jobctl:", v)
			}
			unreadable = unreadable || len(unchecked) > 0
		}
		failed = failed || len(errs) > 0
		if o.output == "json" {
			ds := append(diagnostics(errs, severityError), diagnostics(warns, severityWarning)...)
			// Document order, as an editor shows them.
			slices.SortStableFunc(ds, func(a, b diagnostic) int {
				return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
			})
			all = append(all, ds...)
			continue
		}
		for _, w := range warns {
			fmt.Fprintln(stderr, asWarning(w))
		}
		for _, e := range errs {
			fmt.Fprintln(stdout, e.Error())
		}
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return fmt.Errorf("writing json: %w", err)
		}
	}
	switch {
	case unreadable:
		// A file not read or not fully checked: the answer is incomplete.
		return &exitError{code: exitUsage, err: errSilent}
	case failed:
		return &exitError{code: exitInvalid, err: errSilent}
	}
	return nil
}

// sortByPosition puts errors of one file in document order.
func sortByPosition(l jobconfig.ErrorList) {
	slices.SortStableFunc(l, func(a, b *jobconfig.FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}
