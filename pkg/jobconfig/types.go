// Package config reads job/config.yaml (apiVersion v2): it parses, validates
// and matches events against actions. It does no I/O.
package jobconfig

import (
	"regexp"

	corev1 "k8s.io/api/core/v1"
)

// ResourceURI is where Keptn keeps the config in a project's repository.
const ResourceURI = "job/config.yaml"

// Config is a parsed and validated job/config.yaml. Every field that came from
// the file carries its Pos, so errors found later (at event time) still name
// the file, line and field path.
type Config struct {
	// File names the source in error messages, e.g. "job/config.yaml" or a
	// local path.
	File       string
	APIVersion string
	Actions    []Action
	// Hash is the hex SHA-256 of the raw bytes; Jobs carry it so a run can be
	// traced back to the exact config it was built from.
	Hash string
	// Warnings are problems that do not stop the config from working the way
	// job-executor-service ran it (e.g. a ttlSecondsAfterFinished below 60
	// that is raised). Tools print them; the function may log them.
	Warnings ErrorList
	// Cost estimates the bytes it takes to hold and use this config (see
	// Limits.MaxCost); a cache of parsed configs counts it. It is a model,
	// not part of what the file says, hence not in the JSON form.
	Cost int64 `json:"-"`
}

// Pos locates a node of the YAML document.
type Pos struct {
	Line   int
	Column int
	// Path is the field path, e.g. "actions[0].tasks[1].env[2].value".
	Path string
}

// OnError says what a failed task means for the action's result.
type OnError string

const (
	// OnErrorFail is the default: a failed task makes the result "fail".
	OnErrorFail OnError = "fail"
	// OnErrorWarn makes a failed task's result "warning" (status stays
	// "succeeded"), so a sequence can go on.
	OnErrorWarn OnError = "warn"
)

// Action is one entry of actions[]: when one of Events matches, its Tasks run
// one after another in one Kubernetes Job (one pod). Every action an event
// matches runs (see Config.Match).
type Action struct {
	Pos Pos
	// Name is required and unique within the config.
	Name   string
	Silent bool
	Events []EventMatcher
	Tasks  []Task

	// Pod-level settings. They apply to the whole Job, because all tasks of an
	// action share one pod. Namespace and ServiceAccount may be written on the
	// action or on any task (as in JES); validation requires the values that
	// are written to agree and lifts the value here ("" = operator default).
	// The other pod-level fields are written on the action only.
	Namespace        string
	ServiceAccount   string
	ImagePullSecrets []string
	NodeSelector     map[string]string
	Tolerations      []corev1.Toleration
	Affinity         *corev1.Affinity
	// WorkspaceSize is the emptyDir sizeLimit of /keptn ("" = operator default).
	WorkspaceSize string
	// TTLSecondsAfterFinished is the maximum over the action and the tasks
	// that set it, raised to at least 60 as JES did (nil = operator default).
	TTLSecondsAfterFinished *int32
	// Annotations is the union of the action's and the tasks' annotations
	// (later ones win; Parse warns when a value is overridden).
	Annotations map[string]string
}

// EventMatcher is one entry of events[], or the action's `event:` (the
// seed's one-event shorthand).
type EventMatcher struct {
	Pos Pos
	// Name is a regular expression matched against the whole CloudEvent type
	// (anchored; JES matched unanchored, see docs/config.md).
	Name     string
	JSONPath *JSONPathFilter

	// re is Name compiled anchored, set by Parse.
	re *regexp.Regexp
}

// JSONPathFilter narrows a match to events whose Property evaluates to Match.
type JSONPathFilter struct {
	Pos      Pos
	Property string
	Match    string

	// eval is Property compiled, set by Parse.
	eval evaluable
}

// Task is one container run in the action's pod.
type Task struct {
	// Pos is the task's mapping; in the one-task form (task fields written on
	// the action) it is the action's.
	Pos Pos
	// Name is unique within the action. Required, except that a plugin task
	// defaults to its Plugin and the one-task form to the action's name.
	Name            string
	Image           string
	ImagePullPolicy corev1.PullPolicy
	Cmd             []string
	Args            []string
	WorkingDir      string
	// Files are Keptn resource paths (a file, or a folder ending in "/" or
	// naming a folder) fetched into /keptn/<path> before any task runs. They
	// never contain "." or ".." segments.
	Files []string
	Env   []Env
	// Resources is nil when the task set none (operator defaults apply).
	Resources *corev1.ResourceRequirements
	// MaxPollDurationSeconds is nil when unset (operator default applies).
	MaxPollDurationSeconds *int64
	// SecurityContext holds only the fields JES accepted (see docs/config.md);
	// nil when unset. Whether they are allowed is the operator's policy.
	SecurityContext *corev1.SecurityContext
	// OnError is the task's effective setting: its own, else its action's,
	// else OnErrorFail. Never "" after Parse.
	OnError OnError
	// Plugin and With are the plugin form of a task: the operator's catalog
	// supplies image and command, so Image, Cmd and Args are empty. With is
	// nil when no parameters were given.
	Plugin string
	With   map[string]string
}

// EnvSource says where an env value comes from.
type EnvSource string

const (
	// EnvFromString is a literal Value; the default when valueFrom is
	// omitted.
	EnvFromString EnvSource = "string"
	// EnvFromEvent evaluates Value as a JSONPath against the event.
	EnvFromEvent EnvSource = "event"
	// EnvFromSecret imports every key of the Secret named Name (JES form).
	EnvFromSecret EnvSource = "secret"
	// EnvFromSecretKey takes one key of one Secret (secretKeyRef form).
	EnvFromSecretKey EnvSource = "secretKeyRef"
)

// Env is one entry of env[].
type Env struct {
	// Pos is the entry's mapping; Pos.Path is its full path, e.g.
	// "actions[0].tasks[1].env[2]".
	Pos Pos
	// Name is the variable's name, except for EnvFromSecret where it is the
	// Secret's name (as in JES).
	Name      string
	Value     string
	ValueFrom EnvSource
	// As formats an event value: "string" (or "", the default), "json" or
	// "yaml"; see FormatValue.
	As string
	// SecretKeyRef is set for EnvFromSecretKey.
	SecretKeyRef *corev1.SecretKeySelector

	// eval is Value compiled for EnvFromEvent; file, the config's File, and
	// valuePos are set by Parse so EventValue can name the line of a failing
	// path.
	eval     evaluable
	file     string
	valuePos Pos
}
