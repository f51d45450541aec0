package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

type eventOptions struct {
	project, stage, service string
	labels                  []string
	gitCommitID             string
	data                    string
	source                  string
	id                      string
	context                 string
	time                    string
}

// commonTasks are offered by shell completion; any task name works.
var commonTasks = []string{"deployment", "test", "evaluation", "release", "rollback", "approval", "get-sli", "action", "remediation"}

func newEventCmd() *cobra.Command {
	var o eventOptions
	cmd := &cobra.Command{
		Use:   "event TASK --project P --stage S --service V",
		Short: "Write a Keptn sh.keptn.event.<TASK>.triggered CloudEvent to stdout",
		Long: `Write a Keptn task event, sh.keptn.event.<TASK>.triggered, as a CloudEvents 1.0
structured JSON document: what Keptn's shipyard-controller sends when a
sequence reaches TASK. It is checked with the function's event parser, so
the function accepts it.

id and shkeptncontext are new UUIDs and time is now, unless given. --data is
a JSON object of further data fields (e.g. {"test": {"teststrategy":
"locust"}}); project, stage, service and --label are set over it.

Use it with 'jobctl render', or post it to a running function:

  curl -X POST -H 'Content-Type: application/cloudevents+json' --data @event.json http://localhost:8080/`,
		Example: `  jobctl event test --project sockshop --stage dev --service carts > event.json
  jobctl event deployment --project sockshop --stage dev --service carts \
    --label buildId=42 --git-commit-id 521747298a3790fde1710f3aa2d03b55020575aa \
    --data '{"deployment": {"deploymentURIsLocal": ["http://carts.sockshop-dev"]}}'
  curl -X POST -H 'Content-Type: application/cloudevents+json' --data @event.json http://localhost:8080/`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return commonTasks, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ce, err := buildEvent(args[0], o, time.Now())
			if err != nil {
				return usage("%w", err)
			}
			return writeEvent(cmd.OutOrStdout(), ce)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.project, "project", "", "Keptn project (required)")
	f.StringVar(&o.stage, "stage", "", "stage (required)")
	f.StringVar(&o.service, "service", "", "service (required)")
	f.StringArrayVar(&o.labels, "label", nil, "label key=value, repeatable (tasks see LABELS_<KEY>)")
	f.StringVar(&o.gitCommitID, "git-commit-id", "", "gitcommitid extension: the commit the config and files are read at")
	f.StringVar(&o.data, "data", "", "JSON object of further data fields")
	f.StringVar(&o.source, "source", "shipyard-controller", "CloudEvent source (Job names depend on it)")
	f.StringVar(&o.id, "id", "", "event id (default: a new UUID; Job names depend on it)")
	f.StringVar(&o.context, "context", "", "shkeptncontext UUID (default: a new UUID)")
	f.StringVar(&o.time, "time", "", "event time, RFC 3339 (default: now)")
	for _, name := range []string{"project", "stage", "service"} {
		_ = cmd.MarkFlagRequired(name)
	}
	// A Keptn task named "generic" is thereby out of reach: Keptn's own
	// tasks and the sequences' are never called that.
	cmd.AddCommand(newGenericEventCmd())
	for _, name := range []string{"project", "stage", "service", "label", "git-commit-id", "data", "source", "id", "context", "time"} {
		_ = cmd.RegisterFlagCompletionFunc(name, cobra.NoFileCompletions)
	}
	return cmd
}

// buildEvent makes the triggered event for task and checks it with
// keptn.ParseTaskEvent, so what jobctl writes is what the function takes.
func buildEvent(task string, o eventOptions, now time.Time) (event.Event, error) {
	ce := event.New()
	eventType := keptn.TaskType(task, keptn.KindTriggered)
	if _, _, ok := keptn.ParseTaskType(eventType); !ok || strings.ContainsAny(task, " \t\r\n") {
		return ce, fmt.Errorf("task %q: want a Keptn task name such as test or deployment (no dots or spaces)", task)
	}
	data, err := eventData(o)
	if err != nil {
		return ce, err
	}
	id := o.id
	if id == "" {
		id = uuid.NewString()
	}
	shctx := o.context
	if shctx == "" {
		shctx = uuid.NewString()
	} else if _, err := uuid.Parse(shctx); err != nil {
		return ce, fmt.Errorf("--context %q: Keptn contexts are UUIDs: %w", shctx, err)
	}
	t, err := eventTime(o.time, now)
	if err != nil {
		return ce, err
	}
	ce.SetID(id)
	ce.SetSource(o.source)
	ce.SetType(eventType)
	ce.SetTime(t)
	ce.SetExtension(keptn.ExtContext, shctx)
	ce.SetExtension(keptn.ExtSpecVersion, keptn.SpecVersion)
	if o.gitCommitID != "" {
		ce.SetExtension(keptn.ExtGitCommitID, o.gitCommitID)
	}
	if err := ce.SetData(event.ApplicationJSON, data); err != nil {
		return ce, fmt.Errorf("encoding data: %w", err)
	}
	if _, err := keptn.ParseTaskEvent(ce); err != nil {
		return ce, err
	}
	return ce, nil
}

// eventData is --data with project, stage, service and the labels set over
// it. Numbers in --data are kept as written.
func eventData(o eventOptions) (map[string]any, error) {
	data := map[string]any{}
	if o.data != "" {
		dec := json.NewDecoder(strings.NewReader(o.data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil || data == nil {
			return nil, fmt.Errorf("--data: want a JSON object, e.g. '{\"test\": {\"teststrategy\": \"locust\"}}'")
		}
		if dec.More() {
			return nil, errors.New("--data: want one JSON object, found more after it")
		}
	}
	labels := map[string]any{}
	if l, ok := data["labels"]; ok {
		m, ok := l.(map[string]any)
		if !ok {
			return nil, errors.New("--data: labels must be an object of strings")
		}
		for k, v := range m {
			if _, ok := v.(string); !ok {
				return nil, fmt.Errorf("--data: labels.%s must be a string", k)
			}
			labels[k] = v
		}
	}
	for _, kv := range o.labels {
		k, v, err := parseLabel(kv)
		if err != nil {
			return nil, err
		}
		labels[k] = v
	}
	data["project"], data["stage"], data["service"] = o.project, o.stage, o.service
	if len(labels) > 0 {
		data["labels"] = labels
	}
	return data, nil
}

// eventTime is --time, or now when it is empty.
func eventTime(flag string, now time.Time) (time.Time, error) {
	if flag == "" {
		return now.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, flag)
	if err != nil {
		return t, fmt.Errorf("--time %q: want RFC 3339, e.g. 2024-05-13T07:46:09Z", flag)
	}
	return t, nil
}

// parseLabel splits key=value at the first "=" (values may contain "=").
func parseLabel(kv string) (key, value string, err error) {
	key, value, ok := strings.Cut(kv, "=")
	if !ok || strings.TrimSpace(key) == "" {
		return "", "", fmt.Errorf("--label %q: want key=value", kv)
	}
	return key, value, nil
}

// writeEvent prints the event indented, for people and diffs; it is the
// same JSON as the compact form.
func writeEvent(w io.Writer, ce event.Event) error {
	raw, err := json.Marshal(ce)
	if err != nil {
		return fmt.Errorf("encoding event: %w", err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return fmt.Errorf("encoding event: %w", err)
	}
	b.WriteByte('\n')
	_, err = w.Write(b.Bytes())
	return err
}
