package policy

import (
	"fmt"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// Violation is a built Job that breaks a hard rule. The job builder should
// never produce one; CheckJob is the independent last check, so that no
// config path (present or added later) can loosen the rules.
type Violation struct {
	Job  string
	Rule string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("job %s breaks the hard rule %q (Pod Security \"restricted\"); it is not created", v.Job, v.Rule)
}

// CheckJob enforces the rules no policy can lift: no privileged or
// privilege-escalating containers, no host namespaces, ports or paths, no
// added capabilities (but NET_BIND_SERVICE where the policy allows it), a
// non-root user, and a RuntimeDefault or Localhost seccomp profile.
//
// Two rules are this project's own: no task container, volume or image pull
// reads the Secret holding the fetcher's Keptn API token (s.TokenSecret),
// and no pod runs under the "default" account with its token mounted.
func (p *Policy) CheckJob(job *batchv1.Job, s jobs.Settings) error {
	spec := &job.Spec.Template.Spec
	fail := func(format string, args ...any) error {
		return &Violation{Job: job.Namespace + "/" + job.Name, Rule: fmt.Sprintf(format, args...)}
	}
	if s.TokenSecret != nil {
		if where := readsSecret(spec, s.TokenSecret.Name); where != "" {
			return fail("the Keptn API token Secret %s is read by %s; only the %s container may read it", s.TokenSecret.Name, where, jobs.FetcherContainer)
		}
	}
	if (spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken) && (spec.ServiceAccountName == "" || spec.ServiceAccountName == "default") {
		return fail("no token of the default service account")
	}
	switch {
	case spec.HostNetwork:
		return fail("hostNetwork")
	case spec.HostPID:
		return fail("hostPID")
	case spec.HostIPC:
		return fail("hostIPC")
	case spec.SecurityContext != nil && len(spec.SecurityContext.Sysctls) > 0:
		return fail("no sysctls")
	}
	for _, v := range spec.Volumes {
		if v.EmptyDir == nil && v.ConfigMap == nil && v.Secret == nil && v.Projected == nil && v.DownwardAPI == nil {
			return fail("volume %s: only emptyDir, configMap, secret, projected and downwardAPI volumes", v.Name)
		}
	}
	podSC := spec.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	if podSC.RunAsUser != nil && *podSC.RunAsUser == 0 {
		return fail("pod runAsUser 0")
	}
	if podSC.RunAsGroup != nil && *podSC.RunAsGroup == 0 {
		return fail("pod runAsGroup 0")
	}
	if podSC.WindowsOptions != nil && podSC.WindowsOptions.HostProcess != nil && *podSC.WindowsOptions.HostProcess {
		return fail("hostProcess")
	}
	var all []corev1.Container
	all = append(all, spec.InitContainers...)
	all = append(all, spec.Containers...)
	if len(spec.EphemeralContainers) > 0 {
		return fail("no ephemeral containers")
	}
	for i := range all {
		if err := p.checkContainer(&all[i], podSC); err != "" {
			return fail("container %s: %s", all[i].Name, err)
		}
	}
	return nil
}

func (p *Policy) checkContainer(c *corev1.Container, podSC *corev1.PodSecurityContext) string {
	sc := c.SecurityContext
	if sc == nil {
		return "has no securityContext"
	}
	for _, port := range c.Ports {
		if port.HostPort != 0 {
			return "hostPort"
		}
	}
	switch {
	case sc.Privileged != nil && *sc.Privileged:
		return "privileged"
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		return "allowPrivilegeEscalation must be false"
	case sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount:
		return "procMount must be Default"
	case sc.RunAsUser != nil && *sc.RunAsUser == 0:
		return "runAsUser 0"
	case sc.RunAsGroup != nil && *sc.RunAsGroup == 0:
		return "runAsGroup 0"
	case sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess:
		return "hostProcess"
	}
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot)
	if !nonRoot {
		return "runAsNonRoot must be true"
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = podSC.SeccompProfile
	}
	if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
		return "seccompProfile must be RuntimeDefault or Localhost"
	}
	caps := sc.Capabilities
	if caps == nil || !dropsAll(caps.Drop) {
		return "capabilities must drop ALL"
	}
	for _, c := range caps.Add {
		if c != "NET_BIND_SERVICE" || !p.allowNetBindService {
			return fmt.Sprintf("capability %s added", c)
		}
	}
	return ""
}

// readsSecret names what in spec reads Secret name, other than the
// fetcher's own KEPTN_API_TOKEN.
func readsSecret(spec *corev1.PodSpec, name string) string {
	for _, r := range spec.ImagePullSecrets {
		if r.Name == name {
			return "imagePullSecrets"
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == name {
			return "volume " + v.Name
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil && src.Secret.Name == name {
					return "volume " + v.Name
				}
			}
		}
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil && e.SecretRef.Name == name {
				return "container " + c.Name + " (envFrom)"
			}
		}
		for _, e := range c.Env {
			ref := e.ValueFrom
			if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != name {
				continue
			}
			if c.Name == jobs.FetcherContainer && e.Name == jobs.FetcherTokenEnv {
				continue
			}
			return "container " + c.Name + " (env " + e.Name + ")"
		}
	}
	return ""
}

func dropsAll(drop []corev1.Capability) bool {
	for _, c := range drop {
		if strings.EqualFold(string(c), "ALL") {
			return true
		}
	}
	return false
}
