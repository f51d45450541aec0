package jobconfig

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/PaesslerAG/jsonpath"
	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

var (
	eventKeys    = map[string]bool{"name": true, "jsonpath": true}
	jsonpathKeys = map[string]bool{"property": true, "match": true}
)

// actionEvents decodes events: (a list) or the seed's event: (one name).
func (d *decoder) actionEvents(m *yaml.Node, path string, events, event, eventKey *yaml.Node) []EventMatcher {
	if eventKey != nil && events != nil {
		d.errorf(eventKey, yamlnode.JoinPath(path, "event"), "use either event or events, not both")
		return nil
	}
	if eventKey != nil {
		ep := yamlnode.JoinPath(path, "event")
		v := yamlnode.Resolve(event)
		name, ok := d.str(v, ep)
		if !ok {
			return nil
		}
		e := EventMatcher{Pos: pos(v, ep), Name: name}
		e.re = d.eventName(v, ep, name)
		if otherKind(name) != "" {
			d.errorf(v, ep, "%s", neverRuns)
		}
		return []EventMatcher{e}
	}
	ep := yamlnode.JoinPath(path, "events")
	seq, ok := d.sequence(events, ep)
	if !ok {
		return nil
	}
	if seq == nil || len(seq.Content) == 0 {
		d.errorf(orNode(seq, m), ep, "required: an action needs at least one event")
		return nil
	}
	items := d.atMost(seq, ep, "events", d.lim.MaxEventsPerAction)
	out := make([]EventMatcher, 0, len(items))
	var dead []int
	for k, item := range items {
		e := d.eventMatcher(item, fmt.Sprintf("%s[%d]", ep, k))
		if e.Name != "" && otherKind(e.Name) != "" {
			dead = append(dead, k)
		}
		out = append(out, e)
	}
	// JES ran actions on other kinds of events too, silently. Here they
	// never come: the Trigger delivers .triggered events only, because a
	// .started or .finished of ours would belong to a task Keptn counts.
	// An action left with nothing else is refused; otherwise the name is
	// dead, and says so.
	if len(dead) == len(out) {
		d.errorf(seq, ep, "%s", neverRuns)
		return out
	}
	for _, k := range dead {
		path := fmt.Sprintf("%s[%d].name", ep, k)
		d.warnf(orNode(nameOf(items[k]), items[k]), path, "matches only %s events, which never run an action: actions run on .triggered events only (job-executor-service also ran them on other kinds, silently)", otherKind(out[k].Name))
	}
	return out
}

func (d *decoder) eventMatcher(n *yaml.Node, path string) EventMatcher {
	n = yamlnode.Resolve(n)
	e := EventMatcher{Pos: pos(n, path)}
	m, _ := d.mapping(n, path, " with name (and jsonpath)")
	if m == nil {
		if yamlnode.IsNull(n) {
			d.errorf(n, path, "must be a mapping with name (and jsonpath) (got null)")
		}
		return e
	}
	var nameNode *yaml.Node
	for _, p := range d.pairs(m, path) {
		fp := yamlnode.JoinPath(path, p.key)
		switch p.key {
		case "name":
			nameNode = yamlnode.Resolve(p.v)
			e.Name, _ = d.str(p.v, fp)
		case "jsonpath":
			e.JSONPath = d.jsonPathFilter(p.v, fp)
		default:
			d.unknown(p, fp, keysOf(eventKeys))
		}
	}
	if e.Name == "" {
		d.errorf(orNode(nameNode, m), yamlnode.JoinPath(path, "name"), "required: the event type to match (a regular expression)")
		return e
	}
	e.re = d.eventName(nameNode, yamlnode.JoinPath(path, "name"), e.Name)
	return e
}

// eventName compiles an event name anchored: JES matched it anywhere in the
// type, so "test" also matched "sh.keptn.event.test-foo.triggered".
func (d *decoder) eventName(n *yaml.Node, path, name string) *regexp.Regexp {
	if name == "" {
		d.errorf(n, path, "required: the event type to match (a regular expression)")
		return nil
	}
	if len(name) > maxEventNameLen {
		d.errorf(n, path, "too long (%d bytes, at most %d)", len(name), maxEventNameLen)
		return nil
	}
	if !d.chargeRegexp(n, path, anchored(name)) {
		return nil
	}
	re, err := regexp.Compile(anchored(name))
	if err != nil {
		// Compiled bare again so that the message quotes what the author
		// wrote, not our anchoring.
		if _, bare := regexp.Compile(name); bare != nil {
			err = bare
		}
		d.errorf(n, path, "not a valid regular expression: %v", err)
		return nil
	}
	if regexp.QuoteMeta(name) == name && !strings.HasPrefix(name, keptn.TypeNamespace) {
		d.warnf(n, path, "matches only the event type %q exactly (names are anchored; job-executor-service matched them anywhere in the type)", name)
	}
	return re
}

const neverRuns = "this action would never run: it matches no .triggered event, and actions run on .triggered events only (job-executor-service also ran them on other kinds, silently; this function does not). Match the .triggered event of the task that should run the Job"

// nameOf is the value node of an event entry's name, nil if it has none.
func nameOf(item *yaml.Node) *yaml.Node {
	m := yamlnode.Resolve(item)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "name" {
			return yamlnode.Resolve(m.Content[i+1])
		}
	}
	return nil
}

// otherKinds are the kinds of Keptn task events other than triggered.
var otherKinds = []string{"started", "status.changed", "finished", "invalidated"}

// otherKind returns the kind a name ends with when it is one of otherKinds:
// "sh.keptn.event.deployment.finished", or as a regular expression
// `sh\.keptn\.event\..+\.finished$`. A name with an alternation is left
// alone: it may match a .triggered type too, and runs on those.
func otherKind(name string) string {
	if strings.Contains(name, "|") {
		return ""
	}
	n := strings.ReplaceAll(strings.TrimSuffix(name, "$"), `\.`, ".")
	for _, k := range otherKinds {
		if strings.HasSuffix(n, "."+k) {
			return "." + k
		}
	}
	return ""
}

// maxEventNameLen bounds one event name; with MaxEventsPerAction it bounds
// the regular expressions a config makes us compile and run.
const maxEventNameLen = 1024

func anchored(name string) string { return "^(?:" + name + ")$" }

func (d *decoder) jsonPathFilter(n *yaml.Node, path string) *JSONPathFilter {
	m, _ := d.mapping(n, path, " with property and match")
	if m == nil {
		return nil
	}
	f := &JSONPathFilter{Pos: pos(m, path)}
	var propNode *yaml.Node
	for _, p := range d.pairs(m, path) {
		fp := yamlnode.JoinPath(path, p.key)
		switch p.key {
		case "property":
			propNode = yamlnode.Resolve(p.v)
			f.Property, _ = d.str(p.v, fp)
		case "match":
			f.Match, _ = d.str(p.v, fp)
		default:
			d.unknown(p, fp, keysOf(jsonpathKeys))
		}
	}
	pp := yamlnode.JoinPath(path, "property")
	if f.Property == "" {
		d.errorf(orNode(propNode, m), pp, "required: a JSONPath into the event, e.g. $.data.test.teststrategy")
		return f
	}
	f.eval = d.compileJSONPath(propNode, pp, f.Property)
	return f
}

func (d *decoder) compileJSONPath(n *yaml.Node, path, expr string) evaluable {
	eval, err := compileJSONPath(expr)
	if err != nil {
		d.errorf(n, path, "not a valid JSONPath expression: %v", err)
		return nil
	}
	return eval
}

// compileJSONPath guards the third-party compiler: a panic there is a bad
// expression, not a crash.
func compileJSONPath(expr string) (eval evaluable, err error) {
	defer func() {
		if r := recover(); r != nil {
			eval, err = nil, fmt.Errorf("%v", r)
		}
	}()
	e, err := jsonpath.New(expr)
	if err != nil {
		return nil, err
	}
	return e, nil
}
