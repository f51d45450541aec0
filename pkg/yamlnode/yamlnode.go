// Package yamlnode is what the strict YAML readers of this module (the job
// config, the policy, jobctl's settings file) share to walk yaml.v3 nodes by
// hand and report each problem at its line, column and field path: reading a
// syntax error's line, telling null from a value, naming what a node is, and
// joining field paths. It knows no schema and no error type; each reader keeps
// its own rules (whether aliases are allowed, which scalars a string accepts).
package yamlnode

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlLine is how yaml.v3 starts the messages of errors it can place.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// SyntaxError splits an error of yaml.v3's decoder into the 1-based line it
// names (1 when it names none) and its message without the "yaml: line N: "
// or "yaml: " prefix, so that readers can put it into their own
// file:line: message format.
func SyntaxError(err error) (line int, msg string) {
	msg, line = err.Error(), 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil && n >= 1 {
			line = n
		}
		msg = m[2]
	}
	return line, strings.TrimPrefix(msg, "yaml: ")
}

// Resolve follows aliases to the node they name.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is absent or a null scalar (`key:`, `~`, `null`):
// an empty field is the same as an absent one.
func IsNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// Describe names what a node is, for "(got ...)" in messages: strings are
// quoted, so `"1"` and `1` read differently.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str", "!!binary", "!!timestamp":
			return strconv.Quote(n.Value)
		default:
			return n.Value
		}
	}
	return "an unknown node"
}

// JoinPath appends a field to a path: `a.b`, or `a[0]` and `a["k"]` when
// field is an index; an empty base or field leaves the other.
func JoinPath(base, field string) string {
	switch {
	case field == "":
		return base
	case base == "":
		return field
	case strings.HasPrefix(field, "["):
		return base + field
	default:
		return base + "." + field
	}
}
