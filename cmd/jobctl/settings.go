package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// The keys, their values and their parsers are jobs.SettingsTable, shared
// with the function's environment: what a deployment's ConfigMap says can
// be copied here and renders the Jobs the function creates.

// printSettingsTable writes the keys for --help and docs/jobctl.md.
func printSettingsTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  KEY\tFUNCTION ENV\tMEANING")
	for _, s := range jobs.SettingsTable {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Key, s.Env, s.Help)
	}
	tw.Flush()
}

// parseSettings reads a --settings file over jobs.DefaultSettings. Problems
// with a key are a jobconfig.ErrorList naming file, line and key; settings
// that are each fine but together unsafe fail jobs.Settings.Validate.
func parseSettings(file string, data []byte) (jobs.Settings, error) {
	r := jobs.NewSettingsReader()
	var errs jobconfig.ErrorList
	fail := func(n *yaml.Node, key, msg string) {
		errs = append(errs, &jobconfig.FieldError{File: file, Line: n.Line, Column: n.Column, Path: key, Message: msg})
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, extra yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return jobs.DefaultSettings(), jobconfig.ErrorList{yamlError(file, err)}
	}
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return jobs.DefaultSettings(), jobconfig.ErrorList{yamlError(file, err)}
	default:
		fail(&extra, "", "only one YAML document is allowed (found a second one)")
		return jobs.DefaultSettings(), errs
	}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		switch {
		case yamlnode.IsNull(root):
		case root.Kind != yaml.MappingNode:
			fail(root, "", "settings must be a mapping of key: value")
		default:
			seen := map[string]bool{}
			for i := 0; i+1 < len(root.Content); i += 2 {
				k, v := root.Content[i], root.Content[i+1]
				st, ok := lookupKey(k.Value)
				switch {
				case !ok:
					fail(k, k.Value, "unknown setting (known: "+jobs.SettingKeys()+")")
				case seen[k.Value]:
					fail(k, k.Value, "set twice")
				default:
					if err := setFromNode(r, st, v); err != nil {
						fail(v, k.Value, err.Error())
					}
				}
				seen[k.Value] = true
			}
		}
	}
	if len(errs) > 0 {
		return jobs.DefaultSettings(), errs
	}
	s, err := r.Settings()
	if err != nil {
		return s, fmt.Errorf("%s: %w", file, err)
	}
	return s, nil
}

// lookupKey finds a setting by its file key only: the environment names
// are for the environment.
func lookupKey(key string) (jobs.Setting, bool) {
	st, ok := jobs.LookupSetting(key)
	return st, ok && st.Key == key
}

var errNotScalar = errors.New("must be a single value, not a list or mapping")

// setFromNode hands the node's text to the shared parser: a scalar as it
// is written (`namespace: 2024` is the name "2024"), a mapping of a
// structured setting as YAML.
func setFromNode(r *jobs.SettingsReader, st jobs.Setting, n *yaml.Node) error {
	n = yamlnode.Resolve(n)
	switch {
	case yamlnode.IsNull(n):
		return errors.New("must not be empty")
	case n.Kind == yaml.ScalarNode:
		return r.Set(st.Key, n.Value)
	case !st.Structured:
		return errNotScalar
	}
	text, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Errorf("re-encoding the value: %w", err)
	}
	return r.Set(st.Key, string(text))
}

// yamlError locates a syntax error at the line yaml.v3 names in its message.
func yamlError(file string, err error) *jobconfig.FieldError {
	line, msg := yamlnode.SyntaxError(err)
	return &jobconfig.FieldError{File: file, Line: line, Message: "invalid YAML: " + msg}
}
