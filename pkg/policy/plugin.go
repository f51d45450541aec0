package policy

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

var pluginKeys = []string{"description", "image", "imagePullPolicy", "command", "args", "workingDir", "env", "allowEnv", "with"}

func (d *decoder) plugins(p *Policy, n *yaml.Node, path string) {
	for _, f := range d.fields(n, path) {
		pp := fmt.Sprintf("%s[%q]", path, f.key)
		if f.key == "" || len(f.key) > 253 || strings.ContainsFunc(f.key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			d.errorf(f.k, pp, "not a plugin name: at most 253 characters without spaces")
			continue
		}
		if pl := d.plugin(f.key, f.v, pp, !p.pluginsOnly); pl != nil {
			p.plugins[f.key] = pl
		}
	}
}

func (d *decoder) plugin(name string, n *yaml.Node, path string, allowEnv bool) *Plugin {
	pl := &Plugin{rule: at(n, path), Name: name, AllowEnv: allowEnv, With: map[string]*Param{}, ImagePullPolicy: corev1.PullIfNotPresent}
	errs := len(d.errs)
	haveImage := false
	for _, f := range d.fields(n, path, pluginKeys...) {
		switch f.key {
		case "description":
			d.str(f.v, f.path)
		case "image":
			haveImage = true
			s, ok := d.str(f.v, f.path)
			if !ok {
				break
			}
			img, err := ParseImage(s)
			switch {
			case err != nil:
				d.errorf(f.v, f.path, "%v", err)
			case img.Digest == "":
				// The catalog is what runs when a config names the plugin:
				// a tag could be moved under it.
				d.errorf(f.v, f.path, "a plugin's image must be pinned by digest (%s@sha256:…)", img.Repository)
			default:
				pl.Image = s
			}
		case "imagePullPolicy":
			if s, ok := d.str(f.v, f.path); ok {
				switch pp := corev1.PullPolicy(s); pp {
				case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
					pl.ImagePullPolicy = pp
				default:
					d.errorf(f.v, f.path, "must be one of Always, IfNotPresent, Never (got %q)", s)
				}
			}
		case "command":
			pl.Command = d.strList(f.v, f.path)
		case "args":
			pl.Args = d.strList(f.v, f.path)
		case "workingDir":
			pl.WorkingDir, _ = d.str(f.v, f.path)
		case "env":
			for _, e := range d.fields(f.v, f.path) {
				ep := fmt.Sprintf("%s[%q]", f.path, e.key)
				if msgs := validation.IsEnvVarName(e.key); len(msgs) > 0 {
					d.errorf(e.k, ep, "not a variable name: %s", strings.Join(msgs, "; "))
					continue
				}
				if v, ok := d.scalar(e.v, ep); ok {
					pl.Env = append(pl.Env, corev1.EnvVar{Name: e.key, Value: v})
				}
			}
		case "allowEnv":
			pl.AllowEnv = d.boolean(f.v, f.path)
		case "with":
			for _, w := range d.fields(f.v, f.path) {
				if prm := d.param(w.key, w.k, w.v, fmt.Sprintf("%s[%q]", f.path, w.key)); prm != nil {
					pl.With[w.key] = prm
				}
			}
		}
	}
	if n.Kind == yaml.MappingNode && !haveImage {
		d.errorf(n, yamlnode.JoinPath(path, "image"), "required: the plugin's image, by digest")
	}
	d.checkVariableOwners(pl, n, path)
	if len(d.errs) > errs {
		return nil
	}
	return pl
}

// checkVariableOwners: two parameters, or a parameter and a fixed
// variable, must not write the same variable: which one wins would depend
// on their order.
func (d *decoder) checkVariableOwners(pl *Plugin, n *yaml.Node, path string) {
	owner := map[string]string{}
	for _, e := range pl.Env {
		owner[e.Name] = "env"
	}
	for _, k := range slices.Sorted(maps.Keys(pl.With)) {
		v := pl.With[k].Env
		if o, dup := owner[v]; dup {
			d.errorf(n, fmt.Sprintf("%s.with[%q]", path, k), "sets variable %s, which %s also sets", v, o)
		}
		owner[v] = fmt.Sprintf("with[%q]", k)
	}
}

func (d *decoder) param(key string, k, n *yaml.Node, path string) *Param {
	if msgs := validation.IsEnvVarName(key); len(msgs) > 0 {
		d.errorf(k, path, "not a parameter name: %s", strings.Join(msgs, "; "))
		return nil
	}
	prm := &Param{Type: ParamString, Env: key}
	var def *field
	for _, f := range d.fields(n, path, "type", "required", "default", "env", "description") {
		switch f.key {
		case "type":
			if s, ok := d.str(f.v, f.path); ok {
				switch t := ParamType(s); t {
				case ParamString, ParamInt, ParamBool:
					prm.Type = t
				default:
					d.errorf(f.v, f.path, "must be string, int or bool (got %q)", s)
				}
			}
		case "required":
			prm.Required = d.boolean(f.v, f.path)
		case "default":
			def = &f
		case "env":
			if s, ok := d.str(f.v, f.path); ok {
				if msgs := validation.IsEnvVarName(s); len(msgs) > 0 {
					d.errorf(f.v, f.path, "not a variable name: %s", strings.Join(msgs, "; "))
				} else {
					prm.Env = s
				}
			}
		case "description":
			d.str(f.v, f.path)
		}
	}
	if def != nil {
		if prm.Required {
			d.errorf(def.k, def.path, "a required parameter has no default")
		}
		if s, ok := d.scalar(def.v, def.path); ok {
			if v, err := prm.check(s); err != nil {
				d.errorf(def.v, def.path, "%v", err)
			} else {
				prm.Default, prm.HasDefault = v, true
			}
		}
	}
	return prm
}

// check validates a value against the parameter's type and returns it in
// canonical form (bools as true/false).
func (prm *Param) check(v string) (string, error) {
	switch prm.Type {
	case ParamInt:
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return "", fmt.Errorf("must be an integer (got %q)", v)
		}
		return strconv.FormatInt(i, 10), nil
	case ParamBool:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return "", fmt.Errorf("must be true or false (got %q)", v)
		}
		return strconv.FormatBool(b), nil
	}
	return v, nil
}

// Plugins lists the catalog, by name.
func (p *Policy) Plugins() map[string]*Plugin { return p.plugins }

// resolvePlugin turns a plugin task into the container task the catalog
// defines: its image, entrypoint and fixed env, the task's `with` passed as
// the declared variables, and the task's own files, resources and security
// context. The task's position is kept so later errors still name its line.
func (p *Policy) resolvePlugin(cfg *jobconfig.Config, t jobconfig.Task) (jobconfig.Task, jobconfig.ErrorList) {
	var errs jobconfig.ErrorList
	pl, ok := p.plugins[t.Plugin]
	if !ok {
		known := slices.Sorted(maps.Keys(p.plugins))
		msg := fmt.Sprintf("unknown plugin %q: the operator's catalog has none", t.Plugin)
		if len(known) > 0 {
			msg = fmt.Sprintf("unknown plugin %q: the operator's catalog has %s", t.Plugin, strings.Join(known, ", "))
		}
		return t, append(errs, cfg.Errorf(t.Pos, "plugin", "%s", msg))
	}
	if len(t.Env) > 0 && !pl.AllowEnv {
		errs = append(errs, cfg.Errorf(t.Env[0].Pos, "", "plugin %q takes no env of the task's own, only its with: keys (%s of %s)", t.Plugin, pl.Path, p.file))
	}
	if t.WorkingDir != "" {
		errs = append(errs, cfg.Errorf(t.Pos, "workingDir", "not allowed on a plugin task: the plugin defines it"))
	}
	out := t
	out.Plugin, out.With = "", nil
	out.Image, out.ImagePullPolicy = pl.Image, pl.ImagePullPolicy
	out.Cmd, out.Args, out.WorkingDir = slices.Clone(pl.Command), slices.Clone(pl.Args), pl.WorkingDir
	out.Env = slices.Clone(t.Env)
	taken := map[string]bool{}
	for _, e := range t.Env {
		taken[e.Name] = true
	}
	add := func(name, value, path string) {
		if taken[name] {
			errs = append(errs, cfg.Errorf(t.Pos, path, "sets %s, which the task's env also sets", name))
			return
		}
		taken[name] = true
		out.Env = append(out.Env, jobconfig.Env{Pos: jobconfig.Pos{Line: t.Pos.Line, Column: t.Pos.Column, Path: yamlnode.JoinPath(t.Pos.Path, path)}, Name: name, Value: value, ValueFrom: jobconfig.EnvFromString})
	}
	for _, e := range pl.Env {
		add(e.Name, e.Value, "plugin")
	}
	for _, k := range slices.Sorted(maps.Keys(t.With)) {
		if _, declared := pl.With[k]; !declared {
			errs = append(errs, cfg.Errorf(t.Pos, fmt.Sprintf("with[%q]", k), "plugin %q takes no parameter %s (it takes %s)", t.Plugin, k, paramList(pl)))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(pl.With)) {
		prm := pl.With[k]
		wp := fmt.Sprintf("with[%q]", k)
		v, given := t.With[k]
		switch {
		case given:
			cv, err := prm.check(v)
			if err != nil {
				errs = append(errs, cfg.Errorf(t.Pos, wp, "plugin %q: %v", t.Plugin, err))
				continue
			}
			add(prm.Env, cv, wp)
		case prm.Required:
			errs = append(errs, cfg.Errorf(t.Pos, "with", "plugin %q requires %s", t.Plugin, k))
		case prm.HasDefault:
			add(prm.Env, prm.Default, wp)
		}
	}
	return out, errs
}

func paramList(pl *Plugin) string {
	if len(pl.With) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(pl.With)) {
		prm := pl.With[k]
		s := k + " (" + string(prm.Type)
		if prm.Required {
			s += ", required"
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, ", ")
}
