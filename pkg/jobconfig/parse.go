package jobconfig

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// APIVersion is the only job/config.yaml version there is.
const APIVersion = "v2"

var topKeys = map[string]bool{"apiVersion": true, "actions": true}

// Parse reads and validates a job/config.yaml. file names the source in
// errors. It does no I/O.
//
// On any problem the error is an ErrorList holding every problem found, each
// with file, line, column and field path. The returned Config is then still
// non-nil and holds what could be read, so a caller can tell which actions an
// event would have run and fail them with the errors (ErrorList.ForAction)
// instead of dropping the event; only a nil error means it is safe to build
// Jobs from it.
func Parse(file string, data []byte, opts ...Option) (cfg *Config, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	sum := sha256.Sum256(data)
	cfg = &Config{File: file, Hash: hex.EncodeToString(sum[:])}
	d := &decoder{file: file, data: data, lim: o.limits.withDefaults(), nodes: map[string]*yaml.Node{}}

	defer func() {
		// The YAML library and JSONPath compiler are third-party code fed with
		// untrusted input; a panic there must become an error, not take the
		// function down. FuzzParse checks that this never fires.
		if r := recover(); r != nil {
			d.errs = append(d.errs, &FieldError{File: file, Line: 1, Message: fmt.Sprintf("internal error: %v", r)})
			cfg, err = &Config{File: file, Hash: cfg.Hash}, d.errs
		}
	}()

	if len(data) > d.lim.MaxBytes {
		d.errs = append(d.errs, &FieldError{File: file, Line: 1, Column: 1,
			Message: fmt.Sprintf("config is %d bytes, at most %d are allowed", len(data), d.lim.MaxBytes)})
		return cfg, d.errs
	}
	root, ok := d.document(data)
	switch {
	case ok:
		d.config(cfg, root)
	case root != nil:
		d.skeleton(cfg, root)
	}
	sortByPosition(d.errs)
	sortByPosition(d.warns)
	cfg.Warnings = d.warns
	cfg.Cost = max(d.cost, int64(len(data)))
	if len(d.errs) > 0 {
		return cfg, d.errs
	}
	return cfg, nil
}

var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// document decodes the single YAML document in data into its root node.
// ok is false when it cannot be decoded, or (root non-nil) when it is
// refused for what its aliases expand to.
func (d *decoder) document(data []byte) (root *yaml.Node, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(nil, "", "the document is empty: apiVersion must be specified (use %s)", APIVersion)
		} else {
			d.syntaxError(err)
		}
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntaxError(err)
		return nil, false
	default:
		d.errorf(&extra, "", "only one YAML document is allowed (found a second one)")
		return nil, false
	}
	root = doc.Content[0]
	return root, d.checkExpansion(root)
}

func (d *decoder) syntaxError(err error) {
	line, msg := yamlnode.SyntaxError(err)
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil && line == 1 {
		// yaml.v3 gives no line for this one; the first use of the alias is
		// where it is.
		if i := bytes.Index(d.data, []byte("*"+m[1])); i >= 0 {
			line = 1 + bytes.Count(d.data[:i], []byte("\n"))
		}
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Message: "invalid YAML: " + msg})
}

func (d *decoder) config(cfg *Config, root *yaml.Node) {
	m, _ := d.mapping(root, "", "")
	if m == nil {
		if yamlnode.IsNull(yamlnode.Resolve(root)) {
			d.errorf(root, "", "the document is empty: apiVersion must be specified (use %s)", APIVersion)
		}
		return
	}
	var actions *yaml.Node
	haveVersion := false
	for _, p := range d.pairs(m, "") {
		switch p.key {
		case "apiVersion":
			haveVersion = true
			v, ok := d.str(p.v, p.key)
			switch {
			case !ok:
			case v == "":
				d.errorf(yamlnode.Resolve(p.v), p.key, "must be specified (use %s)", APIVersion)
			case v != APIVersion:
				d.errorf(yamlnode.Resolve(p.v), p.key, "%s is not supported, use %s", v, APIVersion)
			default:
				cfg.APIVersion = v
			}
		case "actions":
			actions = p.v
		default:
			d.unknown(p, p.key, keysOf(topKeys))
		}
	}
	if !haveVersion {
		d.errorf(m, "apiVersion", "must be specified (use %s)", APIVersion)
	}
	seq, ok := d.sequence(actions, "actions")
	if !ok {
		return
	}
	if seq == nil || len(seq.Content) == 0 {
		if len(d.errs) == 0 {
			d.warnf(m, "actions", "no actions: this config never runs anything")
		}
		return
	}
	items := d.atMost(seq, "actions", "actions", d.lim.MaxActions)
	cfg.Actions = make([]Action, len(items))
	names := map[string]Pos{}
	for i, item := range items {
		a, nameNode := d.action(item, i)
		cfg.Actions[i] = a
		if a.Name == "" {
			continue
		}
		if first, dup := names[a.Name]; dup {
			d.errorf(nameNode, yamlnode.JoinPath(a.Pos.Path, "name"), "duplicate action name %q (also %s, line %d)", a.Name, first.Path, first.Line)
			continue
		}
		names[a.Name] = a.Pos
	}
}

// sortByPosition puts problems in document order; checks that run after
// decoding (duplicates, lifting) would otherwise report out of order.
func sortByPosition(l ErrorList) {
	slices.SortStableFunc(l, func(a, b *FieldError) int {
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Column, b.Column)
	})
}

// atMost is seq's items up to limit; past it, an error names the count and
// the rest is not decoded, so a huge list costs no more than the limit.
func (d *decoder) atMost(seq *yaml.Node, path, what string, limit int) []*yaml.Node {
	items := seq.Content
	if len(items) > limit {
		d.errorf(seq, path, "too many %s (%d, at most %d)", what, len(items), limit)
		items = items[:limit]
	}
	return items
}
