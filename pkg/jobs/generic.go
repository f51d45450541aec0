package jobs

import (
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// The generic mode's marks (docs/generic.md). The builder writes them
// from the route the function took, never from what the event says, and
// the reporter reads them to send a result CloudEvent instead of Keptn's
// .finished.
const (
	// AnnotationMode is ModeGeneric on a generic Job; absent on Keptn's.
	AnnotationMode = Domain + "mode"
	ModeGeneric    = "generic"
	// AnnotationResultType is the type of the generic Job's result event.
	AnnotationResultType = Domain + "result-type"
	// startedGeneric fills AnnotationStarted: a generic event has no
	// .started, so its result is owed from the start.
	startedGeneric = "not sent: generic events have no .started"
)

// EventFile is where a generic event's tasks find it, as Knative's JobSink
// puts it, named by EventPathEnv.
const (
	EventFile    = WorkspacePath + "/event.json"
	EventPathEnv = "K_EVENT_PATH"
	// EventEnv carries the event to the fetcher, which writes EventFile;
	// the tasks do not get it (K_EVENT_PATH is their way).
	EventEnv = "K_EVENT"
	// FilesDirEnv names where the fetcher finds GENERIC_CONFIGMAP's keys.
	FilesDirEnv = "JOB_FILES_DIR"
)

const (
	genericFilesVolume = "job-files"
	genericFilesPath   = "/etc/job-files"
)

// IsGeneric reports whether job was built for a generic event.
func IsGeneric(job *batchv1.Job) bool {
	return job.Annotations[AnnotationMode] == ModeGeneric
}

// genericMeta marks a generic Job: its mode, its result's type, and its
// .started as not owed.
func genericMeta(annotations map[string]string, ev *keptn.TaskEvent, s Settings) {
	annotations[AnnotationMode] = ModeGeneric
	annotations[AnnotationResultType] = strings.ReplaceAll(cmpOr(s.GenericResultType, "dev.jobexecutor.job.finished"), "{type}", ev.Type)
	annotations[AnnotationStarted] = startedGeneric
}

// genericEnv is what every task of a generic Job sees first: the event's
// id, source and type, and where its file is. Values from the event are
// escaped (EscapeExpansion).
func genericEnv(ev *keptn.TaskEvent) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "CE_ID", Value: EscapeExpansion(ev.ID)},
		{Name: "CE_SOURCE", Value: EscapeExpansion(ev.Source)},
		{Name: "CE_TYPE", Value: EscapeExpansion(ev.Type)},
		{Name: EventPathEnv, Value: EventFile},
	}
}

// genericFiles checks that an action's files are keys of
// GENERIC_CONFIGMAP: a ConfigMap key has no "/", so folders cannot be
// named.
func genericFiles(cfg *jobconfig.Config, a *jobconfig.Action, s Settings) error {
	for i := range a.Tasks {
		t := &a.Tasks[i]
		for _, f := range t.Files {
			switch {
			case s.GenericConfigMap == "":
				return fieldErr(cfg, t.Pos, "files", "a generic event's files come from the operator's ConfigMap (GENERIC_CONFIGMAP), and none is set")
			case len(validation.IsConfigMapKey(f)) > 0:
				return fieldErr(cfg, t.Pos, "files", strconv.Quote(f)+" is not a ConfigMap key ([-._a-zA-Z0-9]+): a generic event's files are keys of "+s.GenericConfigMap)
			}
		}
	}
	return nil
}

// genericFetcher is the init container of a generic Job: it writes the
// event to EventFile and copies the named keys of GENERIC_CONFIGMAP into
// the workspace. It holds no credentials: the event is in its env, the
// files in a read-only ConfigMap volume.
func genericFetcher(ev *keptn.TaskEvent, files []string, workspace resource.Quantity, s Settings) corev1.Container {
	args := []string{
		"--generic",
		"--workspace=" + WorkspacePath,
		"--max-bytes=" + strconv.FormatInt(workspace.Value(), 10),
		"--",
	}
	for _, f := range files {
		args = append(args, EscapeExpansion(f))
	}
	env := []corev1.EnvVar{{Name: EventEnv, Value: EscapeExpansion(string(ev.Raw))}}
	mounts := []corev1.VolumeMount{{Name: workspaceVolume, MountPath: WorkspacePath}}
	if len(files) > 0 {
		env = append(env, corev1.EnvVar{Name: FilesDirEnv, Value: genericFilesPath})
		mounts = append(mounts, corev1.VolumeMount{Name: genericFilesVolume, MountPath: genericFilesPath, ReadOnly: true})
	}
	return initContainer(s, args, env, mounts)
}

// genericVolume is GENERIC_CONFIGMAP as the fetcher mounts it.
func genericVolume(s Settings) corev1.Volume {
	return corev1.Volume{Name: genericFilesVolume, VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.GenericConfigMap}},
	}}
}
