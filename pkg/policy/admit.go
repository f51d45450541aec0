package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/sigstore/sigstore-go/pkg/root"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// Refusal is the policy saying no for a reason that is not a line of the
// config (the event is too large).
type Refusal struct{ Message string }

func (r *Refusal) Error() string { return r.Message }

// IsRefusal reports whether err is the policy saying no (the action fails
// with err's message) rather than a failure to decide.
func IsRefusal(err error) bool {
	var list jobconfig.ErrorList
	var v *Violation
	var r *Refusal
	return errors.As(err, &list) || errors.As(err, &v) || errors.As(err, &r)
}

// Admit decides whether action actionIndex of cfg may run for ev. On yes it
// returns the config to build the Job from: a copy in which that action's
// plugin tasks are the catalog's containers and every image that a
// signature rule covers is pinned to the digest that was verified, so what
// runs is what was checked even if a tag moves afterwards.
//
// A refusal is a jobconfig.ErrorList whose messages name the config line, the
// image and the policy rule (IsRefusal). An error wrapping ErrUnavailable
// (a registry or the API server unreachable) says nothing about the action
// and should be retried.
func (p *Policy) Admit(ctx context.Context, cfg *jobconfig.Config, actionIndex int, ev *keptn.TaskEvent, s jobs.Settings) (*jobconfig.Config, error) {
	if actionIndex < 0 || actionIndex >= len(cfg.Actions) {
		return nil, fmt.Errorf("action index %d out of range (config has %d actions)", actionIndex, len(cfg.Actions))
	}
	if err := p.checkEvent(ev); err != nil {
		return nil, err
	}
	a := cfg.Actions[actionIndex]
	a.Tasks = slices.Clone(a.Tasks)
	errs := p.checkScope(cfg, &a, s.Namespace, s.ServiceAccount)
	errs = append(errs, p.checkPlacement(cfg, &a)...)
	namespace := a.Namespace
	if namespace == "" {
		namespace = s.Namespace
	}

	images := make([]Image, len(a.Tasks))
	var secrets []secretRef
	for i := range a.Tasks {
		t := &a.Tasks[i]
		fromCatalog := false
		if t.Plugin != "" {
			resolved, perrs := p.resolvePlugin(cfg, *t)
			if len(perrs) > 0 {
				errs = append(errs, perrs...)
				continue
			}
			*t, fromCatalog = resolved, true
		} else if p.pluginsOnly {
			errs = append(errs, cfg.Errorf(t.Pos, "image", "image %q is refused by the operator's policy, rule %s: only plugin tasks may run (plugin: <name>)", t.Image, p.cite(rule{Path: "pluginsOnly"})))
			continue
		}
		img, refused := p.checkImage(t.Image, fromCatalog)
		if refused != nil {
			errs = append(errs, cfg.Errorf(t.Pos, "image", "%s", refused.message()))
			continue
		}
		images[i] = img
		errs = append(errs, p.checkCapabilities(cfg, t)...)
		errs = append(errs, p.checkResources(cfg, t)...)
		secrets = append(secrets, secretRefs(t)...)
	}
	secrets = append(secrets, pullSecretRefs(&a)...)
	token := ""
	if s.TokenSecret != nil {
		token = s.TokenSecret.Name
	}
	errs = append(errs, checkTokenSecret(cfg, secrets, token)...)
	if len(errs) > 0 {
		return nil, errs
	}

	serrs, swarns, err := p.checkSecrets(ctx, cfg, secrets, namespace)
	if err != nil {
		return nil, err
	}
	if len(serrs) > 0 {
		return nil, serrs
	}
	if err := p.pinImages(ctx, cfg, &a, images); err != nil {
		return nil, err
	}
	out := *cfg
	out.Actions = slices.Clone(cfg.Actions)
	out.Actions[actionIndex] = a
	out.Warnings = append(slices.Clone(cfg.Warnings), swarns...)
	return &out, nil
}

// pinImages verifies each task's image under the signature rules and pins
// it to the digest that verified. An unsigned image is a refusal (a
// jobconfig.ErrorList); a registry that cannot answer is an error.
func (p *Policy) pinImages(ctx context.Context, cfg *jobconfig.Config, a *jobconfig.Action, images []Image) error {
	var errs jobconfig.ErrorList
	for i := range a.Tasks {
		t := &a.Tasks[i]
		pinned, err := p.verifyImage(ctx, images[i])
		var unsigned errUnsigned
		switch {
		case errors.As(err, &unsigned):
			errs = append(errs, cfg.Errorf(t.Pos, "image", "%s", unsigned.Error()))
		case err != nil:
			return err
		case pinned != "":
			t.Image = pinned
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// verifyImage applies the signature rules covering img. It returns the
// reference by digest to run ("" when no rule covers img), an errUnsigned
// naming the image and rule, or an ErrUnavailable error.
func (p *Policy) verifyImage(ctx context.Context, img Image) (string, error) {
	pinned, _, err := p.verifyRules(ctx, img)
	return pinned, err
}

// ImageVerification is how one signature rule was satisfied for an image.
type ImageVerification struct {
	// Rule is the rule's policy path and file; Name its name.
	Rule, Name string
	// Digest is the reference by digest that was verified and runs.
	Digest string
	// How names the signature: its layout and the key or identity.
	How string
}

// VerifyImage applies the signature rules covering ref, as Admit does,
// and says which rule verified which signature (none when no rule covers
// ref). jobctl reports it; a refusal is an error naming rule and reason.
func (p *Policy) VerifyImage(ctx context.Context, ref string) ([]ImageVerification, error) {
	img, err := ParseImage(ref)
	if err != nil {
		return nil, err
	}
	_, out, err := p.verifyRules(ctx, img)
	return out, err
}

func (p *Policy) verifyRules(ctx context.Context, img Image) (string, []ImageVerification, error) {
	rules := p.signatureRules(img)
	if len(rules) == 0 {
		return "", nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	d, err := p.registry.resolve(ctx, img)
	if err != nil {
		var unsigned errUnsigned
		if errors.As(err, &unsigned) {
			return "", nil, errUnsigned{fmt.Sprintf("image %q is refused by the operator's policy, rule %s: %s", img.Ref, p.cite(rules[0].rule), unsigned.reason)}
		}
		return "", nil, err
	}
	var out []ImageVerification
	for _, r := range rules {
		how, err := p.registry.verify(ctx, d, r, p.trustLoader(ctx, r))
		if err != nil {
			var unsigned errUnsigned
			if errors.As(err, &unsigned) {
				return "", nil, errUnsigned{fmt.Sprintf("image %q (%s) is refused by the operator's policy, rule %s (%s): %s is required, but %s",
					img.Ref, d.String(), p.cite(r.rule), r.Name, r.wants(), unsigned.reason)}
			}
			return "", nil, err
		}
		out = append(out, ImageVerification{Rule: p.cite(r.rule), Name: r.Name, Digest: d.String(), How: how})
	}
	return d.String(), out, nil
}

// trustLoader reads r's trusted root when a bundle needs it.
func (p *Policy) trustLoader(ctx context.Context, r *SignatureRule) func() (root.TrustedMaterial, error) {
	return func() (root.TrustedMaterial, error) {
		if r.trust == nil {
			return nil, nil
		}
		return r.trust.load(ctx, p.configMaps)
	}
}

// wants says what a rule accepts, for refusals.
func (s *SignatureRule) wants() string {
	switch {
	case len(s.identities) == 0:
		return "a signature by one of its keys"
	case len(s.verifier) == 0:
		return "a keyless signature by one of its identities"
	}
	return "a signature by one of its keys or identities"
}

// checkEvent bounds the event payload that env values and jsonpath filters
// are read from.
func (p *Policy) checkEvent(ev *keptn.TaskEvent) error {
	if p.limits.EventBytes <= 0 {
		return nil
	}
	b, err := json.Marshal(ev.Data)
	if err != nil {
		return fmt.Errorf("measuring the event: %w", err)
	}
	if len(b) > p.limits.EventBytes {
		return &Refusal{Message: fmt.Sprintf("the event's data is %d bytes; the operator's policy, rule %s, allows at most %d", len(b), p.cite(p.limits.eventBytesAt), p.limits.EventBytes)}
	}
	return nil
}

// mountsToken says whether a task pod under account gets an API token: only
// when the action names the account and the operator's serviceAccounts
// list covers it, and never for "default", which every namespace has and
// operators bind roles to without thinking of tasks.
func (p *Policy) mountsToken(account string) bool {
	return account != "" && account != "default" && p.accounts != nil && anyGlob(p.accounts, account)
}

// Build is the Job for action i of cfg under p: Admit (plugins resolved,
// verified images pinned), jobs.Build, then CheckJob on the result. The
// function and jobctl both build Jobs through it, so what jobctl renders is
// what the function creates.
func (p *Policy) Build(ctx context.Context, cfg *jobconfig.Config, i int, ev *keptn.TaskEvent, s jobs.Settings) (*batchv1.Job, error) {
	job, _, err := p.BuildWarn(ctx, cfg, i, ev, s)
	return job, err
}

// BuildWarn is Build that also returns the admitted config's warnings
// (cfg's own, and what an offline Secret reader could not check).
func (p *Policy) BuildWarn(ctx context.Context, cfg *jobconfig.Config, i int, ev *keptn.TaskEvent, s jobs.Settings) (*batchv1.Job, jobconfig.ErrorList, error) {
	admitted, err := p.Admit(ctx, cfg, i, ev, s)
	if err != nil {
		return nil, nil, err
	}
	job, err := jobs.BuildContext(ctx, admitted, i, ev, s)
	if err != nil {
		return nil, nil, err
	}
	if p.mountsToken(admitted.Actions[i].ServiceAccount) {
		job.Spec.Template.Spec.AutomountServiceAccountToken = ptr.To(true)
	}
	if err := p.CheckJob(job, s); err != nil {
		return nil, nil, err
	}
	return job, admitted.Warnings, nil
}
