package jobconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// evaluable is a compiled JSONPath (gval.Evaluable's underlying type, so
// this package need not import gval).
type evaluable = func(context.Context, any) (any, error)

// Match returns the indices of the actions that the event selects, in config
// order. An action is selected when any of its events matches: its name, a
// regular expression anchored at both ends, matches eventType, and, when a
// jsonpath filter is set, the value it finds in event, as a string, equals
// match. All selected actions run (job-executor-service ran only the first
// non-silent one); silent ones are included, the caller decides what silent
// means. event is the mapped CloudEvent (id, shkeptncontext, time, source,
// data, specversion, type, gitcommitid, triggeredid), so filters read
// $.data.<field>.
//
// Match is safe for concurrent use on a parsed Config, and on a partial
// Config that Parse returned with errors: events that failed to compile never
// match. It is MatchEvent without a context, its errors dropped.
func (c *Config) Match(eventType string, event map[string]any) []int {
	out, _ := c.MatchEvent(eventType, NewEventReader(context.Background(), event))
	return out
}

// MatchEvent is Match with the filters read by r, under its budget and
// context. A filter that cannot be evaluated (over the budget, or the
// context ended) does not match; each such filter is also returned as an
// error located at its property, for the caller to report.
func (c *Config) MatchEvent(eventType string, r *EventReader) ([]int, ErrorList) {
	var out []int
	var errs ErrorList
	for i := range c.Actions {
		a := &c.Actions[i]
		if len(a.Tasks) == 0 {
			continue
		}
		for j := range a.Events {
			ok, err := a.Events[j].matchIn(eventType, r)
			if err != nil {
				f := a.Events[j].JSONPath
				errs = append(errs, c.Errorf(f.Pos, "property", "%v", err))
			}
			if ok {
				out = append(out, i)
				break
			}
		}
	}
	return out, errs
}

// Matches reports whether this one event entry selects the event; see Match.
func (e *EventMatcher) Matches(eventType string, event map[string]any) bool {
	ok, _ := e.matchIn(eventType, NewEventReader(context.Background(), event))
	return ok
}

// matchIn is Matches; its error is only a filter that was not evaluated
// (budget, context), never one that found nothing.
func (e *EventMatcher) matchIn(eventType string, r *EventReader) (bool, error) {
	re := e.re
	if re == nil {
		// A matcher built by hand rather than by Parse.
		if e.Name == "" {
			return false, nil
		}
		var err error
		if re, err = regexp.Compile(anchored(e.Name)); err != nil {
			return false, nil //nolint:nilerr // a name that does not compile matches nothing; Parse reports it
		}
	}
	if !re.MatchString(eventType) {
		return false, nil
	}
	f := e.JSONPath
	if f == nil || f.Property == "" {
		return true, nil
	}
	eval := f.eval
	if eval == nil {
		var err error
		if eval, err = compileJSONPath(f.Property); err != nil {
			return false, nil //nolint:nilerr // as above, for the JSONPath
		}
	}
	v, err := r.evaluate(eval, f.Property)
	var budget *errBudget
	switch {
	case errors.As(err, &budget) || r.ctx.Err() != nil:
		return false, err
	case err != nil:
		return false, nil //nolint:nilerr // a path that finds nothing is no match
	}
	s, ok := scalarString(v)
	return ok && s == f.Match, nil
}

// scalarString renders strings, numbers and booleans the way they read in
// the event's JSON; maps, lists and null never equal a match string.
func scalarString(v any) (string, bool) {
	switch v.(type) {
	case string, bool, json.Number, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		s, err := FormatValue(v, "")
		return s, err == nil
	}
	return "", false
}

// Lookup evaluates a JSONPath (github.com/PaesslerAG/jsonpath) against the
// mapped event, under the budget of one EventReader. A path that finds
// nothing is an error ("unknown key ...").
func Lookup(expr string, event map[string]any) (any, error) {
	eval, err := compileJSONPath(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid JSONPath %q: %w", expr, err)
	}
	return NewEventReader(context.Background(), event).evaluate(eval, expr)
}

// evaluateIn runs a priced evaluation; the evaluator is third-party code
// fed with untrusted data, so a panic there is an error.
func evaluateIn(ctx context.Context, eval evaluable, expr string, event map[string]any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%s: %v", expr, r)
		}
	}()
	v, err = eval(ctx, event)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
	}
	return v, nil
}

// FormatValue renders a value found in an event as an env value, the way
// job-executor-service did for `valueFrom: event`: as "yaml" it is YAML, as
// "json" it is JSON, and otherwise ("string" or "") a string is itself, a
// map is JSON, a number reads as in JSON (1000000, not 1e+06) and null is
// empty. One deliberate difference: a list is JSON too, where JES printed
// Go's "[a b]", which no task could parse.
func FormatValue(v any, as string) (string, error) {
	switch as {
	case "yaml":
		b, err := sigsyaml.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("formatting as yaml: %w", err)
		}
		return string(b), nil
	case "json":
		return jsonString(v)
	case "", "string":
	default:
		return "", fmt.Errorf("unknown format %q (want json, yaml or string)", as)
	}
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case json.Number:
		return x.String(), nil
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct,
		reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return jsonString(v)
	}
	return fmt.Sprint(v), nil
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("formatting as json: %w", err)
	}
	return string(b), nil
}

// EventValue is the value of a `valueFrom: event` entry for one event:
// ValueIn with a reader of its own.
func (e Env) EventValue(event map[string]any) (string, error) {
	return e.ValueIn(NewEventReader(context.Background(), event))
}

// ValueIn is the value of a `valueFrom: event` entry read by r: its JSONPath
// (priced and charged to r's budget), then FormatValue with As. Its error
// is a *FieldError that names the config line of the entry.
func (e Env) ValueIn(r *EventReader) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		p := e.valuePos
		if p.Line == 0 {
			p = e.Pos
		}
		return "", &FieldError{File: e.file, Line: p.Line, Column: p.Column,
			Path: yamlnode.JoinPath(e.Pos.Path, "value"), Message: fmt.Sprintf(format, args...)}
	}
	if e.ValueFrom != EnvFromEvent {
		return fail("not a valueFrom: event entry (valueFrom is %q)", e.ValueFrom)
	}
	eval := e.eval
	if eval == nil {
		var err error
		if eval, err = compileJSONPath(e.Value); err != nil {
			return fail("not a valid JSONPath expression: %v", err)
		}
	}
	v, err := r.evaluate(eval, e.Value)
	var budget *errBudget
	switch {
	case errors.As(err, &budget):
		return fail("%v", err)
	case err != nil && r.ctx.Err() != nil:
		return fail("%v", err)
	case err != nil:
		return fail("finds nothing in the event: %v", err)
	}
	s, err := FormatValue(v, e.As)
	if err != nil {
		return fail("%v", err)
	}
	return s, nil
}
