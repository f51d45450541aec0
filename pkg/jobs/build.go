package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

const (
	workspaceVolume = "workspace"
	tmpVolume       = "tmp"
	caVolume        = "keptn-ca"
	caMountPath     = "/etc/keptn-ca"
)

// Build returns the Job that runs action actionIndex of cfg for ev. The pod
// runs the file fetcher first, then the tasks in order as init containers and
// the last task as the main container: so tasks run one after another, stop at
// the first failure and share the /keptn workspace.
//
// Errors are the config's fault (an env jsonpath that finds nothing, a
// security context that would loosen the policy, a workspace over the
// ceiling) and name the file, line and field.
func Build(cfg *jobconfig.Config, actionIndex int, ev *keptn.TaskEvent, s Settings) (*batchv1.Job, error) {
	return BuildContext(context.Background(), cfg, actionIndex, ev, s)
}

// BuildContext is Build reading the event's values for the request ctx:
// the env JSONPaths of one Job share one budget (jobconfig.EventReader), and
// none is evaluated once ctx has ended.
func BuildContext(ctx context.Context, cfg *jobconfig.Config, actionIndex int, ev *keptn.TaskEvent, s Settings) (*batchv1.Job, error) {
	if actionIndex < 0 || actionIndex >= len(cfg.Actions) {
		return nil, fmt.Errorf("action index %d out of range (config has %d actions)", actionIndex, len(cfg.Actions))
	}
	a := &cfg.Actions[actionIndex]
	tasks, err := taskContainers(ctx, cfg, a, ev, s)
	if err != nil {
		return nil, err
	}
	workspace, err := workspaceSize(cfg, a, s)
	if err != nil {
		return nil, err
	}
	inits, files, err := fetcherOf(cfg, a, ev, workspace, s)
	if err != nil {
		return nil, err
	}
	inits = append(inits, tasks.containers[:len(tasks.containers)-1]...)
	main := tasks.containers[len(tasks.containers)-1]
	meta, err := buildMeta(cfg, a, actionIndex, ev, tasks.refs, s)
	if err != nil {
		return nil, err
	}
	pod := podSpec(a, inits, main, workspace, len(files) > 0 && !ev.Generic, s)
	if ev.Generic && len(files) > 0 {
		pod.Volumes = append(pod.Volumes, genericVolume(s))
	}
	ttl := s.TTLSecondsAfterFinished
	if a.TTLSecondsAfterFinished != nil {
		ttl = *a.TTLSecondsAfterFinished
	}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To[int32](0),
			ActiveDeadlineSeconds:   ptr.To(tasks.deadline),
			TTLSecondsAfterFinished: ptr.To(ttl),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
					LabelManagedBy: s.ManagedBy,
					LabelContext:   meta.Labels[LabelContext],
					LabelAction:    meta.Labels[LabelAction],
				}},
				Spec: pod,
			},
		},
	}, nil
}

// fetcherOf is the pod's first init container, if it has one, and the
// files it fetches: a Keptn event's fetcher runs when there are files, a
// generic event's always (it writes the event file).
func fetcherOf(cfg *jobconfig.Config, a *jobconfig.Action, ev *keptn.TaskEvent, workspace resource.Quantity, s Settings) ([]corev1.Container, []string, error) {
	files := actionFiles(a)
	switch {
	case ev.Generic:
		if err := genericFiles(cfg, a, s); err != nil {
			return nil, nil, err
		}
		return []corev1.Container{genericFetcher(ev, files, workspace, s)}, files, nil
	case len(files) > 0:
		return []corev1.Container{fetcherContainer(ev, files, workspace, s)}, files, nil
	}
	return nil, nil, nil
}

// builtTasks are an action's task containers, in order, with what the Job
// says about them: which container runs which task, and the sum of their
// deadlines (the Job's activeDeadlineSeconds).
type builtTasks struct {
	containers []corev1.Container
	refs       []TaskRef
	deadline   int64
}

func taskContainers(ctx context.Context, cfg *jobconfig.Config, a *jobconfig.Action, ev *keptn.TaskEvent, s Settings) (builtTasks, error) {
	var out builtTasks
	if len(a.Tasks) == 0 {
		return out, fieldErr(cfg, a.Pos, "tasks", "an action needs at least one task")
	}
	doc := jobconfig.NewEventReader(ctx, ev.Document())
	base, err := baseEnv(ev)
	if err != nil {
		return out, err
	}
	for i := range a.Tasks {
		t := &a.Tasks[i]
		c, err := taskContainer(cfg, i, t, doc, base, s)
		if err != nil {
			return out, err
		}
		out.containers = append(out.containers, c)
		out.refs = append(out.refs, TaskRef{Name: t.Name, Container: c.Name, OnError: onError(t)})
		if t.MaxPollDurationSeconds != nil {
			out.deadline += *t.MaxPollDurationSeconds
		} else {
			out.deadline += s.TaskDeadlineSeconds
		}
	}
	return out, nil
}

// workspaceSize is the action's /keptn size, bounded by the operator's
// ceiling.
func workspaceSize(cfg *jobconfig.Config, a *jobconfig.Action, s Settings) (resource.Quantity, error) {
	if a.WorkspaceSize == "" {
		return s.WorkspaceSize, nil
	}
	q, err := resource.ParseQuantity(a.WorkspaceSize)
	if err != nil {
		return q, fieldErr(cfg, a.Pos, "workspaceSize", fmt.Sprintf("not a quantity: %v", err))
	}
	if q.Cmp(s.MaxWorkspaceSize) > 0 {
		return q, fieldErr(cfg, a.Pos, "workspaceSize", fmt.Sprintf("%s is over the operator's ceiling %s", q.String(), s.MaxWorkspaceSize.String()))
	}
	return q, nil
}

// buildMeta is the Job's name, labels and annotations: those every Job of
// ours carries (jobMeta, shared with Record), over the action's own
// annotations, plus what a report of a real run needs.
func buildMeta(cfg *jobconfig.Config, a *jobconfig.Action, actionIndex int, ev *keptn.TaskEvent, refs []TaskRef, s Settings) (metav1.ObjectMeta, error) {
	for k := range a.Annotations {
		if jobconfig.ReservedAnnotation(k) {
			return metav1.ObjectMeta{}, fieldErr(cfg, a.Pos, "annotations."+k, "the "+Domain+" prefix is reserved")
		}
	}
	meta, err := jobMeta(ev, actionIndex, a.Name, cmpOr(a.Namespace, s.Namespace), s)
	if err != nil {
		return meta, err
	}
	tasks, err := json.Marshal(refs)
	if err != nil {
		return meta, fmt.Errorf("encoding tasks: %w", err)
	}
	// User annotations first, so ours always win.
	annotations := maps.Clone(a.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	maps.Copy(annotations, meta.Annotations)
	annotations[AnnotationTasks] = string(tasks)
	annotations[AnnotationConfigHash] = cfg.Hash
	annotations[AnnotationConfigFile] = cfg.File
	if a.Silent {
		annotations[AnnotationSilent] = "true"
	}
	meta.Annotations = annotations
	return meta, nil
}

// jobMeta is what every Job of ours carries, run or record: the
// deterministic name that makes a redelivery meet the Job it created, the
// labels the watch and the sweep select on, and the triggered event a
// report answers.
func jobMeta(ev *keptn.TaskEvent, actionIndex int, actionName, namespace string, s Settings) (metav1.ObjectMeta, error) {
	origin, err := json.Marshal(keptn.OriginOf(ev))
	if err != nil {
		return metav1.ObjectMeta{}, fmt.Errorf("encoding origin: %w", err)
	}
	meta := metav1.ObjectMeta{
		Name:      Name(ev.Source, ev.ID, actionIndex, actionName),
		Namespace: namespace,
		Labels: map[string]string{
			LabelManagedBy: s.ManagedBy,
			LabelContext:   LabelValue(ev.Context),
			LabelProject:   LabelValue(ev.Project),
			LabelStage:     LabelValue(ev.Stage),
			LabelService:   LabelValue(ev.Service),
			LabelAction:    LabelValue(actionName),
			LabelTask:      LabelValue(ev.Task),
		},
		Annotations: map[string]string{
			AnnotationOrigin:      string(origin),
			AnnotationEventType:   ev.Type,
			AnnotationEventID:     ev.ID,
			AnnotationEventSource: ev.Source,
			AnnotationAction:      actionName,
		},
	}
	if ev.Generic {
		genericMeta(meta.Annotations, ev, s)
	}
	return meta, nil
}

// podSpec runs inits (the fetcher, when there are files, then every task
// but the last) before main, under the pod defaults of restricted.
func podSpec(a *jobconfig.Action, inits []corev1.Container, main corev1.Container, workspace resource.Quantity, fetches bool, s Settings) corev1.PodSpec {
	pod := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: cmpOr(a.ServiceAccount, s.ServiceAccount),
		// The policy mounts a token only for accounts the operator listed
		// (policy.Build); a task pod never inherits one by default.
		AutomountServiceAccountToken: ptr.To(false),
		InitContainers:               inits,
		Containers:                   []corev1.Container{main},
		NodeSelector:                 a.NodeSelector,
		Tolerations:                  a.Tolerations,
		Affinity:                     a.Affinity,
		EnableServiceLinks:           ptr.To(false),
		SecurityContext:              podSecurityContext(s),
		Volumes: []corev1.Volume{
			{Name: workspaceVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &workspace}}},
			{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(s.WorkspaceSize)}}},
		},
	}
	for _, secret := range a.ImagePullSecrets {
		pod.ImagePullSecrets = append(pod.ImagePullSecrets, corev1.LocalObjectReference{Name: secret})
	}
	// Only the fetcher mounts the CA: tasks talk to whatever they like,
	// with their own trust.
	if s.CAConfigMap != nil && fetches {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: caVolume, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: s.CAConfigMap.LocalObjectReference},
		}})
	}
	return pod
}

// podSecurityContext is the pod's part of Pod Security "restricted", with
// the operator's ids: images that run as root by default still start.
func podSecurityContext(s Settings) *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(s.RunAsUser),
		RunAsGroup:     ptr.To(s.RunAsGroup),
		FSGroup:        ptr.To(s.FSGroup),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func onError(t *jobconfig.Task) string {
	if t.OnError == jobconfig.OnErrorWarn {
		return string(jobconfig.OnErrorWarn)
	}
	return ""
}

// actionFiles is the union of the tasks' files, in order of first mention:
// the fetcher runs once per pod, for all tasks.
func actionFiles(a *jobconfig.Action) []string {
	var files []string
	seen := map[string]bool{}
	for _, t := range a.Tasks {
		for _, f := range t.Files {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	return files
}

func fetcherContainer(ev *keptn.TaskEvent, files []string, workspace resource.Quantity, s Settings) corev1.Container {
	// The fetcher holds the Keptn token in its env, so what the event says
	// must not expand in its args either.
	args := []string{
		"--project=" + EscapeExpansion(ev.Project),
		"--stage=" + EscapeExpansion(ev.Stage),
		"--service=" + EscapeExpansion(ev.Service),
		"--workspace=" + WorkspacePath,
		"--max-bytes=" + strconv.FormatInt(workspace.Value(), 10),
	}
	if ev.GitCommitID != "" {
		args = append(args, "--git-commit-id="+EscapeExpansion(ev.GitCommitID))
	}
	if s.FetchTimeoutSeconds > 0 {
		args = append(args, "--timeout="+strconv.FormatInt(s.FetchTimeoutSeconds, 10)+"s")
	}
	// "--" so that a file entry starting with "-" is never read as a flag.
	args = append(args, "--")
	// File entries are the config author's, and the fetcher's env holds the
	// token: "$(KEPTN_API_TOKEN)" as a file name must stay a file name.
	for _, f := range files {
		args = append(args, EscapeExpansion(f))
	}

	env := []corev1.EnvVar{{Name: "KEPTN_API_URL", Value: s.KeptnAPIURL}}
	if s.TokenSecret != nil {
		env = append(env, corev1.EnvVar{Name: FetcherTokenEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: s.TokenSecret}})
	}
	if s.InsecureSkipTLSVerify {
		env = append(env, corev1.EnvVar{Name: "KEPTN_API_INSECURE_SKIP_VERIFY", Value: "true"})
	}
	mounts := []corev1.VolumeMount{{Name: workspaceVolume, MountPath: WorkspacePath}}
	if s.CAConfigMap != nil {
		env = append(env, corev1.EnvVar{Name: "KEPTN_API_CA_FILE", Value: caMountPath + "/" + s.CAConfigMap.Key})
		mounts = append(mounts, corev1.VolumeMount{Name: caVolume, MountPath: caMountPath, ReadOnly: true})
	}
	return initContainer(s, args, env, mounts)
}

func taskContainer(cfg *jobconfig.Config, i int, t *jobconfig.Task, doc *jobconfig.EventReader, base []corev1.EnvVar, s Settings) (corev1.Container, error) {
	if t.Plugin != "" {
		return corev1.Container{}, fieldErr(cfg, t.Pos, "plugin", fmt.Sprintf("plugin %q: no plugin catalog is configured", t.Plugin))
	}
	env, envFrom, err := taskEnv(cfg, t, doc, base)
	if err != nil {
		return corev1.Container{}, err
	}
	sc, err := taskSecurityContext(cfg, t)
	if err != nil {
		return corev1.Container{}, err
	}
	return corev1.Container{
		Name:            ContainerName(i, t.Name),
		Image:           t.Image,
		ImagePullPolicy: t.ImagePullPolicy,
		Command:         t.Cmd,
		Args:            t.Args,
		WorkingDir:      t.WorkingDir,
		Env:             env,
		EnvFrom:         envFrom,
		Resources:       taskResources(t, s),
		VolumeMounts: []corev1.VolumeMount{
			{Name: workspaceVolume, MountPath: WorkspacePath},
			{Name: tmpVolume, MountPath: "/tmp"},
		},
		SecurityContext: sc,
		// A task may leave a small JSON result in /dev/termination-log; the
		// report merges it into .finished. FallbackToLogsOnError keeps the
		// tail of the log as the message when it leaves none and fails.
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}, nil
}

// taskResources sets the task's keys over the operator defaults, key by key.
// JES dropped every default as soon as one key was given, which left limits
// unset by accident.
func taskResources(t *jobconfig.Task, s Settings) corev1.ResourceRequirements {
	out := *s.TaskResources.DeepCopy()
	if t.Resources == nil {
		return out
	}
	if out.Limits == nil {
		out.Limits = corev1.ResourceList{}
	}
	if out.Requests == nil {
		out.Requests = corev1.ResourceList{}
	}
	maps.Copy(out.Limits, t.Resources.Limits)
	maps.Copy(out.Requests, t.Resources.Requests)
	return out
}

// baseEnv is what every task sees first: where it runs for, and the event's
// labels as LABELS_<KEY>, as in job-executor-service. Every value comes from
// the event, so each is escaped (EscapeExpansion).
func baseEnv(ev *keptn.TaskEvent) ([]corev1.EnvVar, error) {
	if ev.Generic {
		return genericEnv(ev), nil
	}
	env := []corev1.EnvVar{
		{Name: "KEPTN_PROJECT", Value: EscapeExpansion(ev.Project)},
		{Name: "KEPTN_STAGE", Value: EscapeExpansion(ev.Stage)},
		{Name: "KEPTN_SERVICE", Value: EscapeExpansion(ev.Service)},
		{Name: "KEPTN_CONTEXT", Value: EscapeExpansion(ev.Context)},
		{Name: "KEPTN_TRIGGERED_ID", Value: EscapeExpansion(ev.ID)},
	}
	names, err := LabelEnvNames(slices.Collect(maps.Keys(ev.Labels)))
	if err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(ev.Labels)) {
		env = append(env, corev1.EnvVar{Name: names[k], Value: EscapeExpansion(ev.Labels[k])})
	}
	return env, nil
}

// LabelEnvName is LABELS_<KEY> with '-' and ' ' turned into '_', upper-cased.
func LabelEnvName(key string) string {
	r := strings.NewReplacer("-", "_", " ", "_")
	return "LABELS_" + strings.ToUpper(r.Replace(key))
}

// LabelEnvNames maps event label keys to their variables (LabelEnvName).
// A key whose variable is not a valid environment variable name, or two
// keys that map to one variable ("a b" and "a-b" are both LABELS_A_B), are
// an error naming them: Kubernetes would refuse the first, and the second
// would silently give the task only one of the values.
func LabelEnvNames(keys []string) (map[string]string, error) {
	slices.Sort(keys)
	out := make(map[string]string, len(keys))
	by := map[string]string{}
	var problems []string
	for _, k := range keys {
		name := LabelEnvName(k)
		if msgs := validation.IsEnvVarName(name); len(msgs) > 0 {
			problems = append(problems, fmt.Sprintf("label %q becomes %q, which is not a valid environment variable name (%s)", k, name, strings.Join(msgs, "; ")))
			continue
		}
		if first, dup := by[name]; dup {
			problems = append(problems, fmt.Sprintf("labels %q and %q both become %s", first, k, name))
			continue
		}
		by[name] = k
		out[k] = name
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the event's labels cannot be passed to the tasks as LABELS_<KEY> (upper-cased, '-' and ' ' as '_'): %s", strings.Join(problems, "; "))
	}
	return out, nil
}

// EscapeExpansion makes s reach the container as written. Kubernetes
// expands $(VAR) in env values and in command and args, from the
// container's other variables (Secrets included), and reads $$ as $; so a
// value taken from an event that said $(password) would become the
// password. Doubling every $ is the complete escape: $$ reads as $, and no
// $( is left to expand.
func EscapeExpansion(s string) string {
	return strings.ReplaceAll(s, "$", "$$")
}

func taskEnv(cfg *jobconfig.Config, t *jobconfig.Task, doc *jobconfig.EventReader, base []corev1.EnvVar) ([]corev1.EnvVar, []corev1.EnvFromSource, error) {
	env := slices.Clone(base)
	var envFrom []corev1.EnvFromSource
	for _, e := range t.Env {
		switch e.ValueFrom {
		case jobconfig.EnvFromString, "":
			env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
		case jobconfig.EnvFromEvent:
			v, err := e.ValueIn(doc)
			if err != nil {
				return nil, nil, err
			}
			env = append(env, corev1.EnvVar{Name: e.Name, Value: EscapeExpansion(v)})
		case jobconfig.EnvFromSecret:
			// Every key of the Secret, as JES did; envFrom needs no read access
			// to the Secret at event time, and a missing Secret fails the pod
			// fast with CreateContainerConfigError.
			envFrom = append(envFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: e.Name},
			}})
		case jobconfig.EnvFromSecretKey:
			if e.SecretKeyRef == nil {
				return nil, nil, fieldErr(cfg, e.Pos, "valueFrom.secretKeyRef", "missing")
			}
			env = append(env, corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: e.SecretKeyRef.DeepCopy()}})
		default:
			return nil, nil, fieldErr(cfg, e.Pos, "valueFrom", fmt.Sprintf("unknown source %q", e.ValueFrom))
		}
	}
	return env, envFrom, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func fieldErr(cfg *jobconfig.Config, pos jobconfig.Pos, field, msg string) error {
	return cfg.Errorf(pos, field, "%s", msg)
}

// initContainer is the fetcher container of both modes: the same image,
// resources and restricted context, whatever it fetches.
func initContainer(s Settings, args []string, env []corev1.EnvVar, mounts []corev1.VolumeMount) corev1.Container {
	return corev1.Container{
		Name:                     FetcherContainer,
		Image:                    s.FetcherImage,
		ImagePullPolicy:          s.FetcherImagePullPolicy,
		Args:                     args,
		Env:                      env,
		Resources:                s.FetcherResources,
		VolumeMounts:             mounts,
		SecurityContext:          restrictedContext(),
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}
