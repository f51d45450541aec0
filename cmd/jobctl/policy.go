package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy"
)

// noCluster is the Secret reader of a laptop: the opt-in label every
// Secret a task reads must carry (secrets.requireLabel, on by default) is
// on Secrets in the cluster, which jobctl does not have. Saying so (as
// ErrNotChecked) gives a warning naming the Secret and the label, and the
// rest of the action is still checked and rendered.
type noCluster struct{}

func (noCluster) SecretLabels(_ context.Context, namespace, name string) (map[string]string, error) {
	return nil, fmt.Errorf("jobctl cannot read the labels of Secret %s/%s: %w", namespace, name, policy.ErrNotChecked)
}

// loadPolicy reads --policy. Without one it is policy.Default, as in the
// function without POLICY_FILE: no plugin catalog, only the hard rules.
func loadPolicy(path string) (*policy.Policy, error) {
	if path == "" {
		return policy.Default(policy.WithSecrets(noCluster{})), nil
	}
	p, err := policy.Load(path, policy.WithSecrets(noCluster{}))
	var list jobconfig.ErrorList
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &list):
		return nil, invalid("invalid policy:\n%w", list)
	case errors.As(err, &pathErr):
		return nil, usage("%w", err)
	case err != nil:
		return nil, invalid("policy: %w", err)
	}
	return p, nil
}

// parseOptions are the config parse options under p: its limits, as the
// function parses configs.
func parseOptions(p *policy.Policy) []jobconfig.Option {
	return []jobconfig.Option{jobconfig.WithLimits(p.ConfigLimits())}
}

// policyAndSettings loads the policy and the settings file and gives the
// settings the policy's resource defaults and workspace ceiling, as the
// function does at start.
func policyAndSettings(policyPath, settingsPath string) (*policy.Policy, jobs.Settings, error) {
	p, err := loadPolicy(policyPath)
	if err != nil {
		return nil, jobs.Settings{}, err
	}
	s, err := readSettings(settingsPath)
	if err != nil {
		return nil, jobs.Settings{}, err
	}
	if s, err = p.ApplySettings(s); err != nil {
		return nil, jobs.Settings{}, invalid("%w", err)
	}
	return p, s, nil
}

// policyEvent stands in for an event when validating without one: Admit
// reads an event only to bound its size.
var policyEvent = &keptn.TaskEvent{Type: keptn.TaskType("validate", keptn.KindTriggered), Task: "validate", Kind: keptn.KindTriggered, Data: map[string]any{}}

// admitAll checks every action of a valid config against p. Refusals are
// returned as errors located in the config; actions the policy could not
// decide on without a cluster or registry are returned as unchecked;
// verified says which signature rule verified which image.
func admitAll(ctx context.Context, p *policy.Policy, cfg *jobconfig.Config, s jobs.Settings) (errs, warns jobconfig.ErrorList, unchecked, verified []string) {
	for i := range cfg.Actions {
		admitted, err := p.Admit(ctx, cfg, i, policyEvent, s)
		var list jobconfig.ErrorList
		switch {
		case err == nil:
			warns = append(warns, admitted.Warnings[len(cfg.Warnings):]...)
			for _, t := range admitted.Actions[i].Tasks {
				verified = append(verified, verifications(ctx, p, fmt.Sprintf("%s:%d:%d", cfg.File, t.Pos.Line, t.Pos.Column), t.Image)...)
			}
		case errors.As(err, &list):
			errs = append(errs, list...)
		case policy.IsUnavailable(err):
			unchecked = append(unchecked, fmt.Sprintf("%s: actions[%d] (%q) not checked against the policy: %v", cfg.File, i, cfg.Actions[i].Name, err))
		default:
			errs = append(errs, &jobconfig.FieldError{File: cfg.File, Line: cfg.Actions[i].Pos.Line, Column: cfg.Actions[i].Pos.Column,
				Path: cfg.Actions[i].Pos.Path, Message: err.Error()})
		}
	}
	return errs, warns, unchecked, verified
}

// verifications says, for an admitted image (pinned to the digest that was
// verified, so the policy answers from its cache), which signature rule
// verified it and with which signature; nothing when no rule covers it.
func verifications(ctx context.Context, p *policy.Policy, where, image string) []string {
	vs, err := p.VerifyImage(ctx, image)
	if err != nil {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%s: image %s verified by rule %s (%s): %s", where, v.Digest, v.Rule, v.Name, v.How)
	}
	return out
}
