package policy

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// decoder walks the policy's YAML nodes so that every error names its line
// and field path, in the same format as job config errors.
type decoder struct {
	file string
	errs jobconfig.ErrorList
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &jobconfig.FieldError{File: d.file, Line: 1, Path: path, Message: fmt.Sprintf(format, args...)}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

func at(n *yaml.Node, path string) rule { return rule{Path: path, Line: n.Line} }

type field struct {
	key  string
	k, v *yaml.Node
	path string
}

// fields reads a mapping strictly: keys must be known (with a suggestion
// for near misses) and appear once. Aliases and merge keys are refused:
// the policy is small, and a reader should see every rule where it is.
func (d *decoder) fields(n *yaml.Node, path string, known ...string) []field {
	if yamlnode.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping (got %s)", yamlnode.Describe(n))
		return nil
	}
	var out []field
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			d.errorf(k, path, "keys must be plain strings (merge keys and anchors are not supported)")
			continue
		}
		fp := yamlnode.JoinPath(path, k.Value)
		if v.Kind == yaml.AliasNode {
			d.errorf(v, fp, "aliases are not supported in the policy: write the value out")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, fp, "duplicate field (first at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		if known != nil && !contains(known, k.Value) {
			if s := jobconfig.Suggest(k.Value, known); s != "" {
				d.errorf(k, fp, "unknown field (did you mean %q?)", s)
			} else {
				d.errorf(k, fp, "unknown field (known: %s)", strings.Join(sorted(known), ", "))
			}
			continue
		}
		out = append(out, field{key: k.Value, k: k, v: v, path: fp})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}

// str reads a string scalar; numbers and booleans are refused so that
// `tag: 1.10` (the float 1.1 in YAML) cannot surprise.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		d.errorf(n, path, "must be a string (got %s); quote it", yamlnode.Describe(n))
		return "", false
	}
	return n.Value, true
}

// scalar reads any non-null scalar as text (for typed defaults and
// quantities such as `cpu: 1`).
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || yamlnode.IsNull(n) {
		d.errorf(n, path, "must be a value (got %s)", yamlnode.Describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		d.errorf(n, path, "must be true or false (got %s)", yamlnode.Describe(n))
	}
	return v
}

func (d *decoder) positive(n *yaml.Node, path string) int {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil || v <= 0 {
		d.errorf(n, path, "must be a positive integer (got %s)", yamlnode.Describe(n))
		return 0
	}
	return v
}

// list reads a sequence, calling item for each entry.
func (d *decoder) list(n *yaml.Node, path string, item func(n *yaml.Node, path string)) {
	if yamlnode.IsNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list (got %s)", yamlnode.Describe(n))
		return
	}
	for i, c := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		if c.Kind == yaml.AliasNode {
			d.errorf(c, p, "aliases are not supported in the policy: write the value out")
			continue
		}
		item(c, p)
	}
}

// notNull refuses a list key written with no value (`allow:`). YAML reads
// it as null, which for these keys would mean "no restriction" while it
// looks like an empty list, which means "nothing is allowed": the
// operator must say which.
func (d *decoder) notNull(n *yaml.Node, path string) {
	if yamlnode.IsNull(n) {
		d.errorf(n, path, "has no value, which is ambiguous: write [] to allow none, or leave the key out for no restriction")
	}
}

func (d *decoder) strList(n *yaml.Node, path string) []string {
	var out []string
	d.list(n, path, func(c *yaml.Node, p string) {
		if s, ok := d.str(c, p); ok {
			out = append(out, s)
		}
	})
	return out
}
