package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/PaesslerAG/jsonpath"
	"gopkg.in/yaml.v3"
)

var (
	eventKeys    = map[string]bool{"name": true, "jsonpath": true}
	jsonpathKeys = map[string]bool{"property": true, "match": true}
)

// actionEvents decodes events: (a list) or the seed's event: (one name).
func (d *decoder) actionEvents(m *yaml.Node, path string, events, event, eventKey *yaml.Node) []EventMatcher {
	if eventKey != nil && events != nil {
		d.errorf(eventKey, joinPath(path, "event"), "use either event or events, not both")
		return nil
	}
	if eventKey != nil {
		ep := joinPath(path, "event")
		v := resolve(event)
		name, ok := d.str(v, ep)
		if !ok {
			return nil
		}
		e := EventMatcher{Pos: pos(v, ep), Name: name}
		e.re = d.eventName(v, ep, name)
		return []EventMatcher{e}
	}
	ep := joinPath(path, "events")
	seq, ok := d.sequence(events, ep)
	if !ok {
		return nil
	}
	if seq == nil || len(seq.Content) == 0 {
		d.errorf(orNode(seq, m), ep, "required: an action needs at least one event")
		return nil
	}
	items := seq.Content
	if len(items) > d.lim.MaxEventsPerAction {
		d.errorf(seq, ep, "too many events (%d, at most %d)", len(items), d.lim.MaxEventsPerAction)
		items = items[:d.lim.MaxEventsPerAction]
	}
	out := make([]EventMatcher, 0, len(items))
	for k, item := range items {
		out = append(out, d.eventMatcher(item, fmt.Sprintf("%s[%d]", ep, k)))
	}
	return out
}

func (d *decoder) eventMatcher(n *yaml.Node, path string) EventMatcher {
	n = resolve(n)
	e := EventMatcher{Pos: pos(n, path)}
	m, _ := d.mapping(n, path, " with name (and jsonpath)")
	if m == nil {
		if isNull(n) {
			d.errorf(n, path, "must be a mapping with name (and jsonpath) (got null)")
		}
		return e
	}
	var nameNode *yaml.Node
	for _, p := range d.pairs(m, path) {
		fp := joinPath(path, p.key)
		switch p.key {
		case "name":
			nameNode = resolve(p.v)
			e.Name, _ = d.str(p.v, fp)
		case "jsonpath":
			e.JSONPath = d.jsonPathFilter(p.v, fp)
		default:
			d.unknown(p, fp, keysOf(eventKeys))
		}
	}
	if e.Name == "" {
		d.errorf(orNode(nameNode, m), joinPath(path, "name"), "required: the event type to match (a regular expression)")
		return e
	}
	e.re = d.eventName(nameNode, joinPath(path, "name"), e.Name)
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
	if regexp.QuoteMeta(name) == name && !strings.HasPrefix(name, "sh.keptn.") {
		d.warnf(n, path, "matches only the event type %q exactly (names are anchored; job-executor-service matched them anywhere in the type)", name)
	}
	return re
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
		fp := joinPath(path, p.key)
		switch p.key {
		case "property":
			propNode = resolve(p.v)
			f.Property, _ = d.str(p.v, fp)
		case "match":
			f.Match, _ = d.str(p.v, fp)
		default:
			d.unknown(p, fp, keysOf(jsonpathKeys))
		}
	}
	pp := joinPath(path, "property")
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
