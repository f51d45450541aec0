package jobconfig

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// decoder walks yaml.v3 nodes by hand instead of unmarshalling into structs:
// that is what lets every error carry its line, column and field path, and
// lets Parse go on after an error to report all of them at once.
type decoder struct {
	file  string
	data  []byte
	lim   Limits
	errs  ErrorList
	warns ErrorList
	// nodes records the node of every path decoded by into, so that checks
	// run after decoding (tolerations, affinity, securityContext) still point
	// at the right line.
	nodes map[string]*yaml.Node
	// cost is Config.Cost so far; regexpInsts the event names' programs.
	cost                         int64
	regexpInsts                  int
	costReported, regexpReported bool
}

func (d *decoder) at(n *yaml.Node, path, msg string) *FieldError {
	e := &FieldError{File: d.file, Line: 1, Column: 1, Path: path, Message: msg}
	if n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, d.at(n, path, fmt.Sprintf(format, args...)))
}

func (d *decoder) warnf(n *yaml.Node, path, format string, args ...any) {
	d.warns = append(d.warns, d.at(n, path, fmt.Sprintf(format, args...)))
}

// errorfPath reports at the node recorded for path, or its nearest recorded
// ancestor, or fallback.
func (d *decoder) errorfPath(fallback *yaml.Node, path, format string, args ...any) {
	d.errorf(d.nodeFor(path, fallback), path, format, args...)
}

func (d *decoder) nodeFor(path string, fallback *yaml.Node) *yaml.Node {
	for p := path; p != ""; p = parentPath(p) {
		if n, ok := d.nodes[p]; ok {
			return n
		}
	}
	return fallback
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

func pos(n *yaml.Node, path string) Pos {
	return Pos{Line: n.Line, Column: n.Column, Path: path}
}

type pair struct {
	key  string
	k, v *yaml.Node
}

// pairs lists a mapping's entries in order, with YAML merge keys (<<: *x)
// expanded below the explicit keys. Duplicate keys are errors: yaml.v3 only
// finds them when decoding into Go values, which we do not.
func (d *decoder) pairs(m *yaml.Node, path string) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merged [][]pair
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := yamlnode.Resolve(m.Content[i]), m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be strings (got %s)", yamlnode.Describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSource(v, path))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, yamlnode.JoinPath(path, k.Value), "duplicate field (first at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{key: k.Value, k: k, v: v})
	}
	for _, src := range merged {
		for _, p := range src {
			if _, ok := seen[p.key]; !ok {
				seen[p.key] = p.k
				out = append(out, p)
			}
		}
	}
	return out
}

func (d *decoder) mergeSource(v *yaml.Node, path string) []pair {
	v = yamlnode.Resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, item := range v.Content {
			item = yamlnode.Resolve(item)
			if item.Kind != yaml.MappingNode {
				d.errorf(item, path, "<< must merge a mapping or a list of mappings (got %s)", yamlnode.Describe(item))
				continue
			}
			// Earlier sources win, as the YAML merge spec says.
			for _, p := range d.pairs(item, path) {
				if !seen[p.key] {
					seen[p.key] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	d.errorf(v, path, "<< must merge a mapping or a list of mappings (got %s)", yamlnode.Describe(v))
	return nil
}

// unknown reports a field that is not part of the schema, with a suggestion
// when the key is a near miss of a known one.
func (d *decoder) unknown(p pair, path string, known []string) {
	if s := Suggest(p.key, known); s != "" {
		d.errorf(p.k, path, "unknown field (did you mean %q?)", s)
		return
	}
	d.errorf(p.k, path, "unknown field")
}

// Suggest returns the known field name key most likely misspells (same
// letters in another case, or at most two edits away), or "". Every strict
// YAML reader of ours uses it, so "did you mean" reads the same everywhere.
func Suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return k
		}
		if dist := editDistance(strings.ToLower(key), strings.ToLower(k)); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mapping resolves n and checks it is a mapping. null gives (nil, true): an
// empty field is the same as an absent one, as in JES.
func (d *decoder) mapping(n *yaml.Node, path, hint string) (*yaml.Node, bool) {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping%s (got %s)", hint, yamlnode.Describe(n))
		return nil, false
	}
	return n, true
}

// sequence resolves n and checks it is a list; null gives (nil, true).
func (d *decoder) sequence(n *yaml.Node, path string) (*yaml.Node, bool) {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list (got %s)", yamlnode.Describe(n))
		return nil, false
	}
	return n, true
}

// str reads a scalar as a string. Like JES's yaml.v2, any scalar is accepted
// (so `match: 1` reads "1"); null reads "".
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "must be a string (got %s)", yamlnode.Describe(n))
		return "", false
	}
	return n.Value, true
}

// integer reads an integer scalar; a quoted number is an error, as in JES.
func (d *decoder) integer(n *yaml.Node, path string) (int64, bool) {
	n = yamlnode.Resolve(n)
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		d.errorf(n, path, "must be an integer (got %s)", yamlnode.Describe(n))
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	n = yamlnode.Resolve(n)
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" || n.Decode(&v) != nil {
		d.errorf(n, path, "must be true or false (got %s)", yamlnode.Describe(n))
		return false, false
	}
	return v, true
}

// strList reads a list of scalars. With scalarOK a single scalar is a
// one-element list (the seed's `cmd: "locust"`).
func (d *decoder) strList(n *yaml.Node, path string, scalarOK bool) ([]string, bool) {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return nil, true
	}
	if scalarOK && n.Kind == yaml.ScalarNode {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode {
		if scalarOK {
			d.errorf(n, path, "must be a string or a list of strings (got %s)", yamlnode.Describe(n))
		} else {
			d.errorf(n, path, "must be a list of strings (got %s)", yamlnode.Describe(n))
		}
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, item := range n.Content {
		s, good := d.str(item, fmt.Sprintf("%s[%d]", path, i))
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// entry is one key/value of a string map, with its nodes for error positions.
type entry struct {
	key, value string
	k, v       *yaml.Node
	path       string
}

// strMap reads a mapping of scalars, keeping order and positions.
func (d *decoder) strMap(n *yaml.Node, path, hint string) ([]entry, bool) {
	m, ok := d.mapping(n, path, hint)
	if m == nil {
		return nil, ok
	}
	var out []entry
	for _, p := range d.pairs(m, path) {
		ep := fmt.Sprintf("%s[%q]", path, p.key)
		v, good := d.str(p.v, ep)
		if !good {
			ok = false
			continue
		}
		out = append(out, entry{key: p.key, value: v, k: p.k, v: yamlnode.Resolve(p.v), path: ep})
	}
	return out, ok
}
