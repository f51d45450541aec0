package jobconfig

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// with decodes a plugin task's parameters. The seed writes them as
// KEY=VALUE text, so three shapes are accepted:
//
//	with: {LOCUST_TEST: locust/basic.py}        # a mapping
//	with: [LOCUST_TEST=locust/basic.py, B=2]    # a list of KEY=VALUE
//	with:                                       # text of KEY=VALUE
//	  LOCUST_TEST=locust/basic.py
//
// In the text form YAML folds an unquoted multi-line scalar into one line,
// so entries are split where a KEY= follows white space; a literal block
// (with: |) is split by lines and keeps spaces in values intact.
func (d *decoder) with(n *yaml.Node, path string) map[string]string {
	out := map[string]string{}
	add := func(key, value string, at *yaml.Node, ep string) {
		if msgs := validation.IsRelaxedEnvVarName(key); len(msgs) > 0 {
			d.errorf(at, ep, "not a valid parameter name %q: %s", key, strings.Join(msgs, "; "))
			return
		}
		if _, dup := out[key]; dup {
			d.errorf(at, ep, "duplicate parameter %q", key)
			return
		}
		out[key] = value
	}
	switch n.Kind {
	case yaml.MappingNode:
		entries, _ := d.strMap(n, path, "")
		for _, e := range entries {
			add(e.key, e.value, e.k, e.path)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			s, ok := d.str(item, ip)
			if !ok {
				continue
			}
			k, v, found := strings.Cut(s, "=")
			if !found {
				d.errorf(yamlnode.Resolve(item), ip, "must be KEY=VALUE (got %q)", s)
				continue
			}
			add(strings.TrimSpace(k), v, yamlnode.Resolve(item), ip)
		}
	case yaml.ScalarNode:
		if yamlnode.IsNull(n) {
			return nil
		}
		for _, line := range withLines(n) {
			k, v, found := strings.Cut(line, "=")
			if !found {
				d.errorf(n, path, "must be KEY=VALUE entries (got %q)", line)
				continue
			}
			add(strings.TrimSpace(k), strings.TrimSpace(v), n, path)
		}
	default:
		d.errorf(n, path, "must be a mapping or KEY=VALUE entries (got %s)", yamlnode.Describe(n))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var withEntryStart = regexp.MustCompile(`\s+[A-Za-z_][A-Za-z0-9_.\-]*=`)

func withLines(n *yaml.Node) []string {
	var lines []string
	if n.Style&yaml.LiteralStyle != 0 {
		lines = strings.Split(n.Value, "\n")
	} else {
		s := n.Value
		start := 0
		for _, loc := range withEntryStart.FindAllStringIndex(s, -1) {
			lines = append(lines, s[start:loc[0]])
			m := s[loc[0]:loc[1]]
			start = loc[0] + len(m) - len(strings.TrimLeft(m, " \t\r\n"))
		}
		lines = append(lines, s[start:])
	}
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
