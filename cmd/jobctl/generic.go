package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
)

type genericOptions struct {
	typ, source, subject, data, id, time string
}

func newGenericEventCmd() *cobra.Command {
	var o genericOptions
	cmd := &cobra.Command{
		Use:   "generic --type T --source S [--data JSON|@FILE]",
		Short: "Write a generic CloudEvent (not Keptn's) to stdout",
		Long: `Write a CloudEvent of any type that is not Keptn's, as a CloudEvents 1.0
structured JSON document: what a generic mode's Trigger delivers to the
function (docs/generic.md). It is checked with the function's generic event
parser, so the function accepts it; 'jobctl render --config config.yaml
--event -' shows the Jobs the operator's config.yaml gives for it.

id is a new UUID and time is now, unless given. --data is JSON (an object,
an array, a string ...) or @FILE to read it from a file.`,
		Example: `  jobctl event generic --type com.example.build.requested --source ci/pipeline-7 \
    --data '{"branch": "main", "repo": "shop"}' > event.json
  jobctl event generic --type com.example.build.requested --source ci --data @payload.json |
    jobctl render --config config.yaml --event -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ce, err := buildGenericEvent(o, time.Now())
			if err != nil {
				return usage("%w", err)
			}
			return writeEvent(cmd.OutOrStdout(), ce)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.typ, "type", "", "CloudEvent type, e.g. com.example.build.requested (required; not sh.keptn.*, dev.knative.* nor dev.jobexecutor.*)")
	f.StringVar(&o.source, "source", "", "CloudEvent source (required; Job names depend on it)")
	f.StringVar(&o.subject, "subject", "", "CloudEvent subject")
	f.StringVar(&o.data, "data", "", "data as JSON, or @FILE")
	f.StringVar(&o.id, "id", "", "event id (default: a new UUID; Job names depend on it)")
	f.StringVar(&o.time, "time", "", "event time, RFC 3339 (default: now)")
	_ = cmd.MarkFlagRequired("type")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

// buildGenericEvent makes the event and checks it as the function does.
func buildGenericEvent(o genericOptions, now time.Time) (event.Event, error) {
	ce := event.New()
	if !generic.Accepts(o.typ, nil) {
		return ce, fmt.Errorf("--type %q: types under sh.keptn., dev.knative. and dev.jobexecutor. are never generic ('jobctl event TASK' writes Keptn's)", o.typ)
	}
	ce.SetID(cmp.Or(o.id, uuid.NewString()))
	ce.SetType(o.typ)
	ce.SetSource(o.source)
	if o.subject != "" {
		ce.SetSubject(o.subject)
	}
	t, err := eventTime(o.time, now)
	if err != nil {
		return ce, err
	}
	ce.SetTime(t)
	if o.data != "" {
		raw, err := genericData(o.data)
		if err != nil {
			return ce, err
		}
		if err := ce.SetData(event.ApplicationJSON, raw); err != nil {
			return ce, fmt.Errorf("encoding data: %w", err)
		}
	}
	if _, err := generic.Parse(ce); err != nil {
		return ce, err
	}
	return ce, nil
}

// genericData is --data: JSON, or @FILE holding JSON.
func genericData(v string) (json.RawMessage, error) {
	raw := []byte(v)
	what := "--data"
	if name, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if raw, err = os.ReadFile(name); err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		what = name
	}
	raw = bytes.TrimSpace(raw)
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%s: not JSON", what)
	}
	return json.RawMessage(raw), nil
}
