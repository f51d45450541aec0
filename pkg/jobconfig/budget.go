package jobconfig

import (
	"fmt"
	"regexp/syntax"

	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// The cost model of a parsed config, in bytes of the function's memory. A
// config is cached after parsing and its Jobs are encoded from it, so what
// it costs is what its aliases expand to (every expanded scalar is copied
// into the Job), the YAML nodes it expands to (each becomes at least a
// string header or a struct field) and the compiled programs of its event
// names (Go's regexp keeps about 50 bytes per instruction, measured on
// go1.26 with 128 copies of a 120,000-instruction program).
const (
	nodeCost = 32
	instCost = 64
)

// expansion is what a walk of a node visits with aliases expanded.
type expansion struct {
	nodes int
	bytes int
}

func (e expansion) cost() int64 { return int64(e.bytes) + nodeCost*int64(e.nodes) }

// expander measures expansions against the parse limits. It is memoised per
// node, so it is linear in the document even for "billion laughs" anchors,
// and it saturates one past each limit, so no sum overflows.
type expander struct {
	maxNodes, maxBytes int
	memo               map[*yaml.Node]expansion
}

func newExpander(lim Limits) *expander {
	return &expander{maxNodes: lim.MaxNodes, maxBytes: lim.MaxExpandedBytes, memo: map[*yaml.Node]expansion{}}
}

func (x *expander) over(e expansion) bool { return e.nodes > x.maxNodes || e.bytes > x.maxBytes }

func (x *expander) add(a, b expansion) expansion {
	return expansion{nodes: min(a.nodes+b.nodes, x.maxNodes+1), bytes: min(a.bytes+b.bytes, x.maxBytes+1)}
}

func (x *expander) size(n *yaml.Node) expansion {
	if n == nil {
		return expansion{}
	}
	if v, ok := x.memo[n]; ok {
		return v
	}
	// A cycle counts as too big.
	x.memo[n] = expansion{nodes: x.maxNodes + 1, bytes: x.maxBytes + 1}
	e := expansion{nodes: 1}
	if n.Kind == yaml.AliasNode {
		e = x.add(e, x.size(n.Alias))
	} else {
		e.bytes = min(len(n.Value), x.maxBytes+1)
	}
	for _, c := range n.Content {
		if x.over(e) {
			break
		}
		e = x.add(e, x.size(c))
	}
	x.memo[n] = e
	return e
}

// firstOver walks n in document order adding to *total and returns the node
// at which the total first passes a limit (the alias whose expansion does
// it, or the scalar), or nil. It never descends into an alias, so it is
// linear in the document too.
func (x *expander) firstOver(n *yaml.Node, total *expansion) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		*total = x.add(*total, x.size(n))
		if x.over(*total) {
			return n
		}
		return nil
	}
	*total = x.add(*total, expansion{nodes: 1, bytes: min(len(n.Value), x.maxBytes+1)})
	if x.over(*total) {
		return n
	}
	for _, c := range n.Content {
		if at := x.firstOver(c, total); at != nil {
			return at
		}
	}
	return nil
}

// firstOverCost is firstOver for the cost of what is visited.
func (x *expander) firstOverCost(n *yaml.Node, total *int64, limit int64) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		*total += x.size(n).cost()
		if *total > limit {
			return n
		}
		return nil
	}
	*total += expansion{nodes: 1, bytes: len(n.Value)}.cost()
	if *total > limit {
		return n
	}
	for _, c := range n.Content {
		if at := x.firstOverCost(c, total, limit); at != nil {
			return at
		}
	}
	return nil
}

// checkExpansion refuses a document whose aliases expand past MaxNodes or
// MaxExpandedBytes, at the alias that does it, and starts the config's cost
// with what it expands to.
func (d *decoder) checkExpansion(root *yaml.Node) bool {
	x := newExpander(d.lim)
	e := x.size(root)
	if !x.over(e) {
		d.cost = e.cost()
		if d.cost <= int64(d.lim.MaxCost) {
			return true
		}
		var total int64
		at := x.firstOverCost(root, &total, int64(d.lim.MaxCost))
		if at == nil {
			at = root
		}
		return d.charge(at, "")
	}
	var total expansion
	at := x.firstOver(root, &total)
	if at == nil {
		at = root
	}
	what := "alias"
	if at.Kind != yaml.AliasNode {
		what = "value"
	}
	if total.nodes > x.maxNodes {
		d.errorf(at, "", "this %s makes the document expand to more than %d YAML nodes (aliases included)", what, d.lim.MaxNodes)
	} else {
		d.errorf(at, "", "this %s makes the document expand to more than %d bytes of values (aliases included; the file is %d bytes)", what, d.lim.MaxExpandedBytes, len(d.data))
	}
	return false
}

// charge checks the running cost against MaxCost after an addition,
// reporting (once) at n, the node whose addition passed it.
func (d *decoder) charge(n *yaml.Node, path string) bool {
	if d.cost <= int64(d.lim.MaxCost) || d.costReported {
		return d.cost <= int64(d.lim.MaxCost)
	}
	d.costReported = true
	d.errorf(n, path, "the config costs more than %d bytes to hold (values and YAML nodes as aliases expand them, %d bytes per YAML node, %d bytes per regular-expression instruction); split it or simplify its event names", d.lim.MaxCost, nodeCost, instCost)
	return false
}

// regexpProgram bounds from above the number of instructions Go's regexp
// compiles expr to, from the parsed tree alone: compiling (or simplifying)
// a pattern full of bounded repetitions is itself the cost being bounded.
// The estimate saturates just past limit.
func regexpProgram(expr string, limit int) (int, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0, err
	}
	return min(2+progSize(re, limit), limit+1), nil
}

// progSize follows what regexp/syntax's compiler emits for each operator
// (one instruction per rune of a literal, two per capture, one alternation
// per choice or loop), with a repetition {n,m} costing m copies of its
// operand plus a branch each: the simplifier expands it that way.
func progSize(re *syntax.Regexp, limit int) int {
	capped := func(v int) int { return min(v, limit+1) }
	sum := func(subs []*syntax.Regexp) int {
		n := 0
		for _, s := range subs {
			n = capped(n + progSize(s, limit))
		}
		return n
	}
	switch re.Op {
	case syntax.OpLiteral:
		return capped(len(re.Rune))
	case syntax.OpCapture:
		return capped(2 + sum(re.Sub))
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return capped(2 + sum(re.Sub))
	case syntax.OpConcat:
		return sum(re.Sub)
	case syntax.OpAlternate:
		return capped(len(re.Sub) + sum(re.Sub))
	case syntax.OpRepeat:
		sub := sum(re.Sub)
		copies := re.Max
		if copies < 0 {
			copies = re.Min + 1
		}
		return capped(max(copies, 1) * (sub + 2))
	default:
		// Character classes, any-char, anchors, empty: one instruction.
		return 1
	}
}

// chargeRegexp bounds one event name's program and the config's total,
// before the matcher is built.
func (d *decoder) chargeRegexp(n *yaml.Node, path, expr string) bool {
	insts, err := regexpProgram(expr, d.lim.MaxRegexpInsts)
	if err != nil {
		return true // regexp.Compile reports it, with the author's text
	}
	if insts > d.lim.MaxRegexpInsts {
		d.errorf(n, path, "this regular expression compiles to more than %d instructions (a bounded repetition such as {1,999} is copied that many times; use * or + instead)", d.lim.MaxRegexpInsts)
		return false
	}
	d.regexpInsts += insts
	if d.regexpInsts > d.lim.MaxRegexpInstsTotal {
		if !d.regexpReported {
			d.regexpReported = true
			d.errorf(n, path, "the config's event names compile to more than %d regular-expression instructions in all", d.lim.MaxRegexpInstsTotal)
		}
		return false
	}
	d.cost += instCost * int64(insts)
	return d.charge(n, path)
}

// skeleton reads, from a document refused for what it expands to, only
// what an event is matched by: each action's name and events (bounded by
// MaxActions, MaxEventsPerAction and the regular-expression limits, so
// reading them costs little whatever the rest expands to). Its tasks are
// not read; one empty task stands for them, so that Match still selects
// the action and the caller can fail it with the errors instead of leaving
// Keptn waiting.
func (d *decoder) skeleton(cfg *Config, root *yaml.Node) {
	m := yamlnode.Resolve(root)
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	// Problems found here are consequences; the refusal is the one error.
	errs, warns := d.errs, d.warns
	defer func() { d.errs, d.warns = errs, warns }()
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := yamlnode.Resolve(m.Content[i]); k.Kind != yaml.ScalarNode || k.Value != "actions" {
			continue
		}
		seq := yamlnode.Resolve(m.Content[i+1])
		if seq == nil || seq.Kind != yaml.SequenceNode {
			return
		}
		items := seq.Content[:min(len(seq.Content), d.lim.MaxActions)]
		for j, item := range items {
			path := fmt.Sprintf("actions[%d]", j)
			item = yamlnode.Resolve(item)
			a := Action{Pos: pos(item, path)}
			if item.Kind == yaml.MappingNode {
				var events, event, eventKey *yaml.Node
				for k := 0; k+1 < len(item.Content); k += 2 {
					key := yamlnode.Resolve(item.Content[k])
					switch key.Value {
					case "name":
						a.Name, _ = d.str(item.Content[k+1], yamlnode.JoinPath(path, "name"))
					case "events":
						events = item.Content[k+1]
					case "event":
						event, eventKey = item.Content[k+1], key
					}
				}
				a.Events = d.actionEvents(item, path, events, event, eventKey)
			}
			a.Tasks = []Task{{Pos: a.Pos}}
			cfg.Actions = append(cfg.Actions, a)
		}
		return
	}
}
