package jobs

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
)

// Settings are the operator's choices, fixed at deploy time. A job config can
// narrow them (ask for less) but never loosen them.
type Settings struct {
	// Namespace is where Jobs go when the action names none.
	Namespace string
	// ServiceAccount runs task pods when the action names none. No token is
	// mounted unless the policy lists the account an action names.
	ServiceAccount string
	// ManagedBy is the value of app.kubernetes.io/managed-by on our Jobs; the
	// ApiServerSource and the sweep select on it.
	ManagedBy string

	// FetcherImage is the init container image that fetches files.
	FetcherImage           string
	FetcherImagePullPolicy corev1.PullPolicy
	// KeptnAPIURL is the resource-service base URL the fetcher calls.
	KeptnAPIURL string
	// TokenSecret holds the Keptn API token; only the fetcher gets it.
	TokenSecret *corev1.SecretKeySelector
	// CAConfigMap, when set, is mounted into the fetcher to verify Keptn's TLS.
	CAConfigMap *corev1.ConfigMapKeySelector
	// InsecureSkipTLSVerify turns off the fetcher's TLS verification.
	InsecureSkipTLSVerify bool
	// FetchTimeoutSeconds bounds the fetcher (0 = its default).
	FetchTimeoutSeconds int64

	// WorkspaceSize is the default sizeLimit of the /keptn emptyDir.
	WorkspaceSize resource.Quantity
	// MaxWorkspaceSize is the ceiling a config may ask for.
	MaxWorkspaceSize resource.Quantity
	// TaskResources apply to tasks that set none; FetcherResources to the
	// fetcher.
	TaskResources    corev1.ResourceRequirements
	FetcherResources corev1.ResourceRequirements

	// TTLSecondsAfterFinished is the default time a finished Job is kept.
	TTLSecondsAfterFinished int32
	// TaskDeadlineSeconds is a task's default maxPollDuration; the Job's
	// activeDeadlineSeconds is the sum over its tasks.
	TaskDeadlineSeconds int64

	// RunAsUser, RunAsGroup and FSGroup are the pod's defaults: images that
	// run as root by default still start, as a non-root user.
	RunAsUser  int64
	RunAsGroup int64
	FSGroup    int64

	// GenericConfigMap is the ConfigMap in the Job's namespace whose keys
	// a generic event's tasks get as files (docs/generic.md); the fetcher
	// alone mounts it.
	GenericConfigMap string
	// GenericResultType is the type of a generic Job's result event;
	// "{type}" stands for the triggering event's type.
	GenericResultType string
}

// DefaultSettings are secure defaults matching job-executor-service's chart
// where it had one (20Mi workspace, 6 h TTL, 5 min deadline, uid 1000).
func DefaultSettings() Settings {
	return Settings{
		Namespace:              "keptn-jobs",
		ServiceAccount:         "keptn-job",
		ManagedBy:              "keptn-job-executor",
		FetcherImage:           "ghcr.io/keptn-sandbox/job-executor-knative/initcontainer:latest",
		FetcherImagePullPolicy: corev1.PullIfNotPresent,
		KeptnAPIURL:            "http://resource-service.keptn:8080",
		TokenSecret: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-api-token"},
			Key:                  "token",
		},
		WorkspaceSize:    resource.MustParse("20Mi"),
		MaxWorkspaceSize: resource.MustParse("1Gi"),
		TaskResources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
		FetcherResources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		TTLSecondsAfterFinished: 21600,
		TaskDeadlineSeconds:     300,
		RunAsUser:               1000,
		RunAsGroup:              1000,
		FSGroup:                 1000,
		GenericResultType:       "dev.jobexecutor.job.finished",
	}
}

// Validate reports settings that would produce invalid or unsafe Jobs.
func (s Settings) Validate() error {
	switch {
	case s.Namespace == "":
		return fmt.Errorf("settings: namespace is empty")
	case s.ManagedBy == "":
		return fmt.Errorf("settings: managedBy is empty")
	case s.FetcherImage == "":
		return fmt.Errorf("settings: fetcher image is empty")
	case s.KeptnAPIURL == "":
		return fmt.Errorf("settings: Keptn API URL is empty")
	case s.RunAsUser <= 0:
		return fmt.Errorf("settings: runAsUser must be a non-root uid (> 0), got %d", s.RunAsUser)
	case s.RunAsGroup <= 0:
		return fmt.Errorf("settings: runAsGroup must be a non-root gid (> 0), got %d", s.RunAsGroup)
	case s.TaskDeadlineSeconds <= 0 || s.TaskDeadlineSeconds > jobconfig.MaxPollDurationSeconds:
		return fmt.Errorf("settings: task deadline must be between 1 and %d seconds, got %d", jobconfig.MaxPollDurationSeconds, s.TaskDeadlineSeconds)
	case s.WorkspaceSize.Sign() <= 0:
		return fmt.Errorf("settings: workspace size must be > 0")
	case s.CAConfigMap != nil && s.InsecureSkipTLSVerify:
		// The fetcher refuses both (exit 2): say so at start, not per Job.
		return fmt.Errorf("settings: a CA ConfigMap and skipping TLS verification contradict each other; choose one")
	case s.MaxWorkspaceSize.Cmp(s.WorkspaceSize) < 0:
		return fmt.Errorf("settings: max workspace size %s is below the default %s", s.MaxWorkspaceSize.String(), s.WorkspaceSize.String())
	}
	return nil
}
