package jobconfig

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

var (
	envKeys          = map[string]bool{"name": true, "value": true, "valueFrom": true, "as": true}
	valueFromMapKeys = map[string]bool{"secretKeyRef": true}
	secretKeyRefKeys = map[string]bool{"name": true, "key": true, "optional": true}
)

func (d *decoder) envList(n *yaml.Node, path string) []Env {
	seq, ok := d.sequence(n, path)
	if !ok || seq == nil {
		return nil
	}
	items := d.atMost(seq, path, "entries", d.lim.MaxEnvPerTask)
	out := make([]Env, 0, len(items))
	seen := map[string]Pos{}
	for i, item := range items {
		e, nameNode := d.env(item, fmt.Sprintf("%s[%d]", path, i))
		// A Secret imported whole (valueFrom: secret) is named by its Secret,
		// not by a variable, so only the other forms can clash.
		if e.Name != "" && e.ValueFrom != EnvFromSecret {
			if first, dup := seen[e.Name]; dup {
				d.errorf(nameNode, yamlnode.JoinPath(e.Pos.Path, "name"), "duplicate variable %q (also %s, line %d)", e.Name, first.Path, first.Line)
			} else {
				seen[e.Name] = e.Pos
			}
		}
		out = append(out, e)
	}
	return out
}

// env decodes one env entry. valueFrom may be omitted for a literal value
// (Kubernetes' name/value); JES failed such an entry at run time.
func (d *decoder) env(n *yaml.Node, path string) (Env, *yaml.Node) {
	n = yamlnode.Resolve(n)
	e := Env{Pos: pos(n, path), file: d.file}
	m, _ := d.mapping(n, path, " with name, value and valueFrom")
	if m == nil {
		if yamlnode.IsNull(n) {
			d.errorf(n, path, "must be a mapping with name, value and valueFrom (got null)")
		}
		return e, nil
	}
	var nameNode, valueNode, valueKey, asNode *yaml.Node
	for _, p := range d.pairs(m, path) {
		fp := yamlnode.JoinPath(path, p.key)
		switch p.key {
		case "name":
			nameNode = yamlnode.Resolve(p.v)
			e.Name, _ = d.str(p.v, fp)
		case "value":
			valueNode, valueKey = yamlnode.Resolve(p.v), p.k
			e.valuePos = pos(valueNode, fp)
			e.Value, _ = d.str(p.v, fp)
		case "valueFrom":
			d.valueFrom(&e, p.v, fp)
		case "as":
			asNode = yamlnode.Resolve(p.v)
			e.As, _ = d.str(p.v, fp)
		default:
			d.unknown(p, fp, keysOf(envKeys))
		}
	}
	if e.ValueFrom == "" && e.SecretKeyRef == nil {
		e.ValueFrom = EnvFromString
	}

	d.envName(&e, nameNode, m, path)

	vp := yamlnode.JoinPath(path, "value")
	switch e.ValueFrom {
	case EnvFromEvent:
		if e.Value == "" {
			d.errorf(orNode(valueNode, m), vp, "required: a JSONPath into the event, e.g. $.data.deployment.deploymentURIsLocal[0]")
		} else {
			e.eval = d.compileJSONPath(valueNode, vp, e.Value)
		}
	case EnvFromSecret:
		if valueKey != nil {
			d.warnf(valueKey, vp, "is ignored with valueFrom: secret, which imports every key of the Secret named by name (use valueFrom: {secretKeyRef: {name, key}} for one key)")
		}
	case EnvFromSecretKey:
		if valueKey != nil {
			d.errorf(valueKey, vp, "not allowed with valueFrom.secretKeyRef")
		}
	}

	ap := yamlnode.JoinPath(path, "as")
	if asNode != nil && !yamlnode.IsNull(asNode) {
		switch {
		case e.ValueFrom != EnvFromEvent:
			d.errorf(asNode, ap, "only allowed with valueFrom: event")
		case e.As != "json" && e.As != "yaml" && e.As != "string":
			d.errorf(asNode, ap, "must be one of json, yaml, string (got %q)", e.As)
		}
	}
	return e, nameNode
}

// envName checks an env entry's name: a variable's, or with valueFrom:
// secret the Secret's.
func (d *decoder) envName(e *Env, nameNode, m *yaml.Node, path string) {
	np := yamlnode.JoinPath(path, "name")
	switch {
	case e.Name == "":
		what := "the variable's name"
		if e.ValueFrom == EnvFromSecret {
			what = "the Secret's name"
		}
		d.errorf(orNode(nameNode, m), np, "required: %s", what)
	case e.ValueFrom == EnvFromSecret:
		// JES took name as the Secret's name and accepted any string; one
		// that Kubernetes would refuse only failed when the Job ran.
		if msgs := validation.IsDNS1123Subdomain(e.Name); len(msgs) > 0 {
			d.warnf(nameNode, np, "%q is not a valid Secret name, so the task cannot start: %s", e.Name, strings.Join(msgs, "; "))
		}
	default:
		if msgs := validation.IsRelaxedEnvVarName(e.Name); len(msgs) > 0 {
			d.errorf(nameNode, np, "not a valid environment variable name: %s (got %q)", strings.Join(msgs, "; "), e.Name)
		}
	}
}

// valueFrom reads JES's scalar form (event, secret, string) or the mapping
// form {secretKeyRef: {name, key}} that JES users asked for (#68).
func (d *decoder) valueFrom(e *Env, n *yaml.Node, path string) {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return
	}
	if n.Kind == yaml.ScalarNode {
		switch s := EnvSource(n.Value); s {
		case EnvFromEvent, EnvFromSecret, EnvFromString:
			e.ValueFrom = s
		default:
			d.errorf(n, path, "must be one of event, secret, string (got %q)", n.Value)
		}
		return
	}
	m, _ := d.mapping(n, path, " {secretKeyRef: {name, key}} or one of event, secret, string")
	if m == nil {
		return
	}
	var ref *yaml.Node
	for _, p := range d.pairs(m, path) {
		if p.key == "secretKeyRef" {
			ref = p.v
			continue
		}
		d.unknown(p, yamlnode.JoinPath(path, p.key), keysOf(valueFromMapKeys))
	}
	rp := yamlnode.JoinPath(path, "secretKeyRef")
	if ref == nil {
		d.errorf(m, rp, "required: {name: <Secret>, key: <key>}")
		return
	}
	e.ValueFrom = EnvFromSecretKey
	rm, _ := d.mapping(ref, rp, " with name and key")
	if rm == nil {
		if yamlnode.IsNull(yamlnode.Resolve(ref)) {
			d.errorf(yamlnode.Resolve(ref), rp, "must be a mapping with name and key (got null)")
		}
		return
	}
	sel := &corev1.SecretKeySelector{}
	var nameNode, keyNode *yaml.Node
	for _, p := range d.pairs(rm, rp) {
		fp := yamlnode.JoinPath(rp, p.key)
		switch p.key {
		case "name":
			nameNode = yamlnode.Resolve(p.v)
			sel.Name, _ = d.str(p.v, fp)
		case "key":
			keyNode = yamlnode.Resolve(p.v)
			sel.Key, _ = d.str(p.v, fp)
		case "optional":
			if b, ok := d.boolean(p.v, fp); ok {
				sel.Optional = &b
			}
		default:
			d.unknown(p, fp, keysOf(secretKeyRefKeys))
		}
	}
	ok := true
	if sel.Name == "" {
		d.errorf(orNode(nameNode, rm), yamlnode.JoinPath(rp, "name"), "required: the Secret's name")
		ok = false
	} else if !d.dnsSubdomain(nameNode, yamlnode.JoinPath(rp, "name"), sel.Name) {
		ok = false
	}
	if sel.Key == "" {
		d.errorf(orNode(keyNode, rm), yamlnode.JoinPath(rp, "key"), "required: the key in the Secret")
		ok = false
	} else if msgs := validation.IsConfigMapKey(sel.Key); len(msgs) > 0 {
		d.errorf(keyNode, yamlnode.JoinPath(rp, "key"), "not a valid Secret key: %s (got %q)", strings.Join(msgs, "; "), sel.Key)
		ok = false
	}
	if ok {
		e.SecretKeyRef = sel
	}
}
