package jobconfig

import (
	"fmt"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// taskDraft is a Task being decoded, with what the action still needs from
// it: its pod-level fields and the nodes of fields that later checks name.
type taskDraft struct {
	Task
	pod      podFields
	node     *yaml.Node
	nameNode *yaml.Node
	// keys of the fields a plugin task must not have, by field name.
	keys map[string]*yaml.Node
}

// task decodes actions[i].tasks[j].
func (d *decoder) task(n *yaml.Node, path string) taskDraft {
	n = yamlnode.Resolve(n)
	t := taskDraft{node: n}
	t.Pos = pos(n, path)
	m, _ := d.mapping(n, path, "")
	if m == nil {
		if yamlnode.IsNull(n) {
			d.errorf(n, path, "must be a mapping (got null)")
		}
		return t
	}
	var fields []pair
	for _, p := range d.pairs(m, path) {
		fp := yamlnode.JoinPath(path, p.key)
		switch {
		case p.key == "name":
			t.nameNode = yamlnode.Resolve(p.v)
			t.Name, _ = d.str(p.v, fp)
		case p.key == "onError":
			t.OnError = d.onError(p.v, fp)
		case jesPodKeys[p.key]:
			d.podField(&t.pod, p, fp)
		case podKeys[p.key]:
			d.errorf(p.k, fp, "set %s on the action, not on a task: all tasks of an action run in one pod", p.key)
		case taskKeys[p.key]:
			fields = append(fields, p)
		case actionOnlyKeys[p.key]:
			d.errorf(p.k, fp, "a field of the action, not of a task")
		default:
			d.unknown(p, fp, taskKnown)
		}
	}
	d.taskFields(&t, fields, path)
	if strings.TrimSpace(t.Name) == "" {
		if t.Plugin != "" {
			// The seed's plugin examples have no task names.
			t.Name = t.Plugin
		} else {
			t.Name = ""
			d.errorf(orNode(t.nameNode, m), yamlnode.JoinPath(path, "name"), "required: every task needs a name, unique within its action")
		}
	}
	d.checkTask(&t, m, path)
	return t
}

// taskFields decodes the fields of a task, written on the task or, in the
// one-task form, on the action.
func (d *decoder) taskFields(t *taskDraft, fields []pair, path string) {
	t.keys = map[string]*yaml.Node{}
	for _, p := range fields {
		fp := yamlnode.JoinPath(path, p.key)
		t.keys[p.key] = p.k
		v := yamlnode.Resolve(p.v)
		switch p.key {
		case "image":
			t.Image = d.image(v, fp)
		case "imagePullPolicy":
			t.ImagePullPolicy = d.pullPolicy(v, fp)
		case "cmd":
			t.Cmd, _ = d.strList(v, fp, true)
			if v.Kind == yaml.ScalarNode && strings.ContainsFunc(v.Value, unicode.IsSpace) {
				d.warnf(v, fp, "%q is one executable name; to pass arguments write cmd as a list or use args", v.Value)
			}
		case "args":
			t.Args, _ = d.strList(v, fp, false)
		case "workingDir":
			t.WorkingDir, _ = d.str(v, fp)
		case "files":
			t.Files = d.files(v, fp)
		case "env":
			t.Env = d.envList(v, fp)
		case "resources":
			t.Resources = d.resources(v, fp)
		case "maxPollDuration":
			t.MaxPollDurationSeconds = d.maxPollDuration(v, fp)
		case "securityContext":
			t.SecurityContext = d.securityContext(v, fp)
		case "plugin":
			t.Plugin = d.plugin(v, fp)
		case "with":
			t.With = d.with(v, fp)
		}
	}
}

// checkTask enforces the two shapes of a task: a container (image, cmd,
// args) or a plugin (plugin, with) whose container the operator defines.
func (d *decoder) checkTask(t *taskDraft, m *yaml.Node, path string) {
	if t.Plugin != "" {
		for _, f := range []string{"image", "cmd", "args"} {
			if k := t.keys[f]; k != nil {
				d.errorf(k, yamlnode.JoinPath(path, f), "not allowed on a plugin task: the plugin defines the image and command")
			}
		}
		return
	}
	if k := t.keys["with"]; k != nil {
		d.errorf(k, yamlnode.JoinPath(path, "with"), "only allowed on a plugin task (add plugin: <name>, or use env)")
	}
	if t.keys["image"] == nil && t.keys["plugin"] == nil {
		d.errorf(m, yamlnode.JoinPath(path, "image"), "required unless the task names a plugin")
	}
}

func (d *decoder) image(n *yaml.Node, path string) string {
	s, ok := d.str(n, path)
	if !ok {
		return ""
	}
	switch {
	case s == "":
		d.errorf(n, path, "must not be empty")
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		d.errorf(n, path, "not an image reference: it contains spaces or control characters (got %q)", s)
	default:
		return s
	}
	return ""
}

func (d *decoder) pullPolicy(n *yaml.Node, path string) corev1.PullPolicy {
	s, ok := d.str(n, path)
	if !ok {
		return ""
	}
	switch p := corev1.PullPolicy(s); p {
	case corev1.PullAlways, corev1.PullNever, corev1.PullIfNotPresent, "":
		return p
	}
	d.errorf(n, path, "must be one of Always, Never, IfNotPresent (got %q)", s)
	return ""
}

func (d *decoder) files(n *yaml.Node, path string) []string {
	seq, ok := d.sequence(n, path)
	if !ok || seq == nil {
		return nil
	}
	items := d.atMost(seq, path, "files", d.lim.MaxFilesPerTask)
	out := make([]string, 0, len(items))
	for i, item := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		s, ok := d.str(item, ip)
		if !ok {
			continue
		}
		if msg := checkResourcePath(s); msg != "" {
			d.errorf(yamlnode.Resolve(item), ip, "%s", msg)
			continue
		}
		out = append(out, s)
	}
	return out
}

// checkResourcePath vets a Keptn resource path that the file fetcher will
// write below /keptn, with the fetcher's own rule (resources.CleanURI), so that
// a path it would refuse at run time is refused when the config is read:
// "..", "//x", backslashes, control characters, segments over 255 bytes and
// paths over 4096. A trailing "/" asks for a folder, as the fetcher reads it.
func checkResourcePath(s string) string {
	if strings.Trim(s, "/") == "" {
		return fmt.Sprintf("must name a file or folder of the service's resources (got %q)", s)
	}
	if _, err := resources.CleanURI(strings.TrimSuffix(s, "/")); err != nil {
		return fmt.Sprintf("the file fetcher would refuse it: %v", err)
	}
	return ""
}

// MaxPollDurationSeconds is the ceiling of a task's maxPollDuration.
const MaxPollDurationSeconds = 7 * 24 * 3600

func (d *decoder) maxPollDuration(n *yaml.Node, path string) *int64 {
	if yamlnode.IsNull(n) {
		return nil
	}
	v, ok := d.integer(n, path)
	if !ok {
		return nil
	}
	if v <= 0 || v > MaxPollDurationSeconds {
		// The ceiling keeps the Job's activeDeadlineSeconds, the sum over
		// its tasks, far from overflowing (two tasks at MaxInt64 made -2).
		d.errorf(n, path, "must be a positive number of seconds up to %d (7 days) (got %d)", MaxPollDurationSeconds, v)
		return nil
	}
	return &v
}

func (d *decoder) plugin(n *yaml.Node, path string) string {
	s, ok := d.str(n, path)
	if !ok {
		return ""
	}
	switch {
	case s == "":
		d.errorf(n, path, "must name a plugin of the operator's catalog")
	case len(s) > 253 || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		d.errorf(n, path, "not a plugin name: it must be at most 253 characters without spaces (got %q)", s)
	default:
		return s
	}
	return ""
}
