package jobconfig

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

var (
	// actionOnlyKeys are fields of an action that a task cannot have.
	actionOnlyKeys = map[string]bool{
		"name": true, "silent": true, "events": true, "event": true, "tasks": true, "onError": true,
	}
	// taskKeys are the fields of a task. Written directly on an action that
	// has no tasks:, they make the seed's one-task form.
	taskKeys = map[string]bool{
		"image": true, "imagePullPolicy": true, "cmd": true, "args": true, "workingDir": true,
		"files": true, "env": true, "resources": true, "maxPollDuration": true,
		"securityContext": true, "plugin": true, "with": true,
	}
	// jesPodKeys are pod-level settings that JES had on tasks. They are
	// accepted on tasks for compatibility and on the action, and lifted to
	// the action because all tasks of an action share one pod.
	jesPodKeys = map[string]bool{
		"namespace": true, "serviceAccount": true, "ttlSecondsAfterFinished": true, "annotations": true,
	}
	// podKeys are the pod-level settings new here: on the action only, since
	// writing them on a task would suggest a per-container setting.
	podKeys = map[string]bool{
		"imagePullSecrets": true, "workspaceSize": true, "nodeSelector": true,
		"tolerations": true, "affinity": true,
	}
)

func union(sets ...map[string]bool) []string {
	all := map[string]bool{}
	for _, s := range sets {
		for k := range s {
			all[k] = true
		}
	}
	return keysOf(all)
}

var (
	actionKnown = union(actionOnlyKeys, taskKeys, jesPodKeys, podKeys)
	taskKnown   = union(map[string]bool{"name": true, "onError": true}, taskKeys, jesPodKeys)
)

// podFields collects the pod-level settings written on the action or one of
// its tasks, with where they were written, before they are lifted.
type podFields struct {
	namespace, serviceAccount string
	nsNode, saNode            *yaml.Node
	nsPath, saPath            string
	ttl                       *int32
	annotations               []entry
}

// minTTLSecondsAfterFinished is the floor for ttlSecondsAfterFinished: a Job
// deleted as soon as it finishes cannot be reported (JES raised it too).
const minTTLSecondsAfterFinished = 60

// action decodes actions[i]. It returns the name's node for duplicate errors.
func (d *decoder) action(n *yaml.Node, i int) (Action, *yaml.Node) {
	path := fmt.Sprintf("actions[%d]", i)
	n = yamlnode.Resolve(n)
	a := Action{Pos: pos(n, path)}
	m, _ := d.mapping(n, path, "")
	if m == nil {
		if yamlnode.IsNull(n) {
			d.errorf(n, path, "must be a mapping (got null)")
		}
		return a, nil
	}

	var (
		nameNode, tasksNode, eventNode, eventsNode *yaml.Node
		tasksKey, eventKey                         *yaml.Node
		simple                                     []pair
		pod                                        podFields
		onError                                    OnError
	)
	for _, p := range d.pairs(m, path) {
		fp := yamlnode.JoinPath(path, p.key)
		switch {
		case p.key == "name":
			nameNode = yamlnode.Resolve(p.v)
			a.Name, _ = d.str(p.v, fp)
		case p.key == "silent":
			a.Silent, _ = d.boolean(p.v, fp)
		case p.key == "events":
			eventsNode = p.v
		case p.key == "event":
			eventNode, eventKey = p.v, p.k
		case p.key == "tasks":
			tasksNode, tasksKey = p.v, p.k
		case p.key == "onError":
			onError = d.onError(p.v, fp)
		case jesPodKeys[p.key]:
			d.podField(&pod, p, fp)
		case podKeys[p.key]:
			d.actionPodField(&a, p, fp)
		case taskKeys[p.key]:
			simple = append(simple, p)
		default:
			d.unknown(p, fp, actionKnown)
		}
	}

	if strings.TrimSpace(a.Name) == "" {
		d.errorf(orNode(nameNode, m), yamlnode.JoinPath(path, "name"), "required: every action needs a name (Jobs, reports and the file fetcher refer to it)")
	}
	a.Events = d.actionEvents(m, path, eventsNode, eventNode, eventKey)

	var tasks []taskDraft
	switch {
	case tasksKey != nil && len(simple) > 0:
		for _, p := range simple {
			d.errorf(p.k, yamlnode.JoinPath(path, p.key), "a task field on an action that has tasks: move it into a task, or drop tasks: to use the one-task form")
		}
		tasks = d.tasks(tasksNode, path)
	case tasksKey != nil:
		tasks = d.tasks(tasksNode, path)
	case len(simple) > 0:
		// The seed's simplified form: the action is its own single task,
		// named after the action.
		t := taskDraft{}
		t.Pos = a.Pos
		d.taskFields(&t, simple, path)
		if t.Name == "" {
			t.Name = a.Name
		}
		d.checkTask(&t, m, path)
		tasks = []taskDraft{t}
	default:
		d.errorf(m, yamlnode.JoinPath(path, "tasks"), "required: an action needs at least one task")
	}
	d.finishTasks(&a, tasks, onError)
	d.liftPod(&a, pod, tasks)
	return a, nameNode
}

func orNode(n, fallback *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return fallback
}

func (d *decoder) onError(n *yaml.Node, path string) OnError {
	s, ok := d.str(n, path)
	if !ok {
		return ""
	}
	switch OnError(s) {
	case OnErrorFail, OnErrorWarn:
		return OnError(s)
	case "":
		return ""
	}
	d.errorf(yamlnode.Resolve(n), path, "must be one of fail, warn (got %q)", s)
	return ""
}

// tasks decodes actions[i].tasks.
func (d *decoder) tasks(n *yaml.Node, path string) []taskDraft {
	tp := yamlnode.JoinPath(path, "tasks")
	seq, ok := d.sequence(n, tp)
	if !ok {
		return nil
	}
	if seq == nil || len(seq.Content) == 0 {
		d.errorf(orNode(seq, yamlnode.Resolve(n)), tp, "required: an action needs at least one task")
		return nil
	}
	items := d.atMost(seq, tp, "tasks", d.lim.MaxTasksPerAction)
	out := make([]taskDraft, 0, len(items))
	for j, item := range items {
		out = append(out, d.task(item, fmt.Sprintf("%s[%d]", tp, j)))
	}
	return out
}

// finishTasks names defaulted tasks, checks that names are unique and sets
// each task's effective onError.
func (d *decoder) finishTasks(a *Action, tasks []taskDraft, actionOnError OnError) {
	if actionOnError == "" {
		actionOnError = OnErrorFail
	}
	names := map[string]Pos{}
	a.Tasks = make([]Task, 0, len(tasks))
	for i := range tasks {
		t := &tasks[i]
		if t.OnError == "" {
			t.OnError = actionOnError
		}
		if t.Name != "" {
			if first, dup := names[t.Name]; dup {
				d.errorf(orNode(t.nameNode, t.node), yamlnode.JoinPath(t.Pos.Path, "name"), "duplicate task name %q in this action (also %s, line %d)", t.Name, first.Path, first.Line)
			} else {
				names[t.Name] = t.Pos
			}
		}
		a.Tasks = append(a.Tasks, t.Task)
	}
}

// liftPod moves the pod-level settings written on the action and its tasks
// to the action: one pod runs all tasks, so they must agree.
func (d *decoder) liftPod(a *Action, act podFields, tasks []taskDraft) {
	all := make([]podFields, 0, len(tasks)+1)
	all = append(all, act)
	for _, t := range tasks {
		all = append(all, t.pod)
	}
	var nsFrom, saFrom *podFields
	for i := range all {
		p := &all[i]
		if p.namespace != "" {
			if nsFrom == nil {
				nsFrom = p
				a.Namespace = p.namespace
			} else if p.namespace != nsFrom.namespace {
				d.errorf(p.nsNode, p.nsPath, "%q differs from %q (%s, line %d): all tasks of an action run in one pod, so they share one namespace",
					p.namespace, nsFrom.namespace, nsFrom.nsPath, nsFrom.nsNode.Line)
			}
		}
		if p.serviceAccount != "" {
			if saFrom == nil {
				saFrom = p
				a.ServiceAccount = p.serviceAccount
			} else if p.serviceAccount != saFrom.serviceAccount {
				d.errorf(p.saNode, p.saPath, "%q differs from %q (%s, line %d): all tasks of an action run in one pod, so they share one service account",
					p.serviceAccount, saFrom.serviceAccount, saFrom.saPath, saFrom.saNode.Line)
			}
		}
		if p.ttl != nil && (a.TTLSecondsAfterFinished == nil || *p.ttl > *a.TTLSecondsAfterFinished) {
			v := *p.ttl
			a.TTLSecondsAfterFinished = &v
		}
		for _, e := range p.annotations {
			if a.Annotations == nil {
				a.Annotations = map[string]string{}
			}
			if old, ok := a.Annotations[e.key]; ok && old != e.value {
				d.warnf(e.v, e.path, "overrides the value %q set earlier in this action (one Job carries the annotations of all its tasks)", old)
			}
			a.Annotations[e.key] = e.value
		}
	}
}

// podField decodes a JES pod-level field written on an action or a task.
func (d *decoder) podField(p *podFields, kv pair, path string) {
	switch kv.key {
	case "namespace":
		if s, ok := d.str(kv.v, path); ok && s != "" {
			if d.dnsLabel(yamlnode.Resolve(kv.v), path, s) {
				p.namespace, p.nsNode, p.nsPath = s, yamlnode.Resolve(kv.v), path
			}
		}
	case "serviceAccount":
		if s, ok := d.str(kv.v, path); ok && s != "" {
			if d.dnsSubdomain(yamlnode.Resolve(kv.v), path, s) {
				p.serviceAccount, p.saNode, p.saPath = s, yamlnode.Resolve(kv.v), path
			}
		}
	case "ttlSecondsAfterFinished":
		p.ttl = d.ttl(kv.v, path)
	case "annotations":
		p.annotations = d.annotations(kv.v, path)
	}
}

func (d *decoder) ttl(n *yaml.Node, path string) *int32 {
	if yamlnode.IsNull(yamlnode.Resolve(n)) {
		return nil
	}
	v, ok := d.integer(n, path)
	if !ok {
		return nil
	}
	switch {
	case v < 0 || v > 1<<31-1:
		d.errorf(yamlnode.Resolve(n), path, "must be between 0 and %d seconds (got %d)", int32(1<<31-1), v)
		return nil
	case v < minTTLSecondsAfterFinished:
		d.warnf(yamlnode.Resolve(n), path, "%d is raised to %d: a finished Job must live long enough to be reported", v, minTTLSecondsAfterFinished)
		v = minTTLSecondsAfterFinished
	}
	t := int32(v)
	return &t
}

// actionPodField decodes the pod-level fields that exist on actions only.
func (d *decoder) actionPodField(a *Action, kv pair, path string) {
	switch kv.key {
	case "imagePullSecrets":
		a.ImagePullSecrets = d.imagePullSecrets(kv.v, path)
	case "workspaceSize":
		a.WorkspaceSize = d.workspaceSize(kv.v, path)
	case "nodeSelector":
		a.NodeSelector = d.nodeSelector(kv.v, path)
	case "tolerations":
		a.Tolerations = d.tolerations(kv.v, path)
	case "affinity":
		a.Affinity = d.affinity(kv.v, path)
	}
}
