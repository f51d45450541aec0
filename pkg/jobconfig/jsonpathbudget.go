package jobconfig

import (
	"context"
	"fmt"
	"math/bits"
	"strings"
)

// JSONPaths are evaluated by github.com/PaesslerAG/jsonpath, the evaluator
// job-executor-service used, so that configs written for it find the same
// values. It does not bound its work: recursive descent (..) builds every
// match's key path through one closure per level, so `$..*` costs about
// depth³ on nested lists, and it never looks at its context. Rather than
// fork or replace it, every evaluation is priced first from the expression
// and the event's shape (jsonPathWork), refused when the price is over a
// budget, and charged to a budget per event; the request's context is
// checked before each evaluation. An evaluation that is let through is then
// bounded by its price.
const (
	// MaxJSONPathWork bounds one evaluation, in steps of the model below
	// (a step is a few nanoseconds: `$..*` at this bound is a nesting
	// depth of about 250, some 0.1 s).
	MaxJSONPathWork = 1 << 24
	// MaxJSONPathWorkPerEvent bounds all evaluations of one EventReader:
	// the filters of one Match, or the env values of one Job.
	MaxJSONPathWorkPerEvent = 1 << 26
)

// shape is what the price of an evaluation depends on: the event's nodes
// (every value, containers included), its depth and its widest container.
type shape struct {
	nodes, depth, width int64
}

func shapeOf(v any) shape {
	var s shape
	var walk func(v any, depth int64)
	walk = func(v any, depth int64) {
		s.nodes++
		s.depth = max(s.depth, depth)
		switch x := v.(type) {
		case map[string]any:
			s.width = max(s.width, int64(len(x)))
			for _, c := range x {
				walk(c, depth+1)
			}
		case []any:
			s.width = max(s.width, int64(len(x)))
			for _, c := range x {
				walk(c, depth+1)
			}
		}
	}
	walk(v, 0)
	return s
}

// sat is arithmetic that saturates at limit+1, so that no price overflows.
type sat struct{ limit int64 }

func (s sat) mul(vals ...int64) int64 {
	out := int64(1)
	for _, v := range vals {
		// out, v and limit are not negative and lo is at most limit, so
		// no conversion here overflows.
		hi, lo := bits.Mul64(uint64(out), uint64(max(v, 0)))
		if hi != 0 || lo > uint64(s.limit) { //nolint:gosec // G115: see above
			return s.limit + 1
		}
		out = int64(lo) //nolint:gosec // G115: see above
	}
	return out
}

func (s sat) add(a, b int64) int64 { return min(a+b, s.limit+1) }

// jsonPathWork prices expr on an event of shape sh, from above, saturating
// just past limit. It reads the expression as a sequence of steps and
// follows the evaluator: F is how many matches a step starts from, M how
// often one node can appear among them.
//
//   - `..` visits each start's subtree, every node at relative depth k
//     through k closures that copy a k-long key path: F·N·(D+1)² at most,
//     bounded by M·N·(D+1) starts-with-subtree; F becomes N (times M), M
//     grows by D+1 (a node is reached once per ancestor).
//   - `*`, `[*]`, `[a:b]` and `[?(…)]` visit each start's children: F·W,
//     times the filter's own price per child; F stays within M·N.
//   - `[a,b,c]` picks k keys: F·k, and M grows by k (keys may repeat).
//   - a plain step costs F.
//
// Every match also carries its key path (D+1 per match), and the result is
// formatted: each match is at most its subtree, M·N·(D+1) in all.
func jsonPathWork(expr string, sh shape, limit int64) int64 {
	s := sat{limit}
	n, d, w := max(sh.nodes, 1), sh.depth+1, max(sh.width, 1)
	f, m, work := int64(1), int64(1), int64(0)
	step := func(cost, nextF, nextM int64) {
		work = s.add(work, s.add(cost, s.mul(nextF, d)))
		f, m = max(nextF, 1), max(nextM, 1)
	}
	for _, st := range jsonPathSteps(expr) {
		switch st.kind {
		case stepDescend:
			starts := min(s.mul(f, n), s.mul(m, n, d))
			step(s.mul(starts, d, d), starts, s.mul(m, d))
		case stepWildcard:
			inner := int64(1)
			if st.inner != "" {
				inner = s.add(1, jsonPathWork(st.inner, sh, limit))
			}
			next := min(s.mul(f, w), s.mul(m, n))
			step(s.mul(f, w, inner), next, m)
		case stepKeys:
			inner := int64(1)
			if st.inner != "" {
				inner = s.add(1, jsonPathWork(st.inner, sh, limit))
			}
			step(s.mul(f, st.keys, inner), s.mul(f, st.keys), s.mul(m, st.keys))
		}
	}
	return s.add(work, s.add(f, min(s.mul(f, n), s.mul(m, n, d))))
}

type stepKind int

const (
	stepKeys stepKind = iota // a plain step is one key
	stepDescend
	stepWildcard
)

type jsonPathStep struct {
	kind  stepKind
	keys  int64
	inner string // a filter's or script's text, priced per candidate
}

// jsonPathSteps splits a JSONPath into the steps jsonPathWork prices. It
// need not parse exactly (the expression already compiled); where it is
// unsure it reads more work, never less: a wildcard anywhere in a bracket
// is a wildcard, every top-level comma another key, and the text of a
// filter or script is priced as a path of its own.
func jsonPathSteps(expr string) []jsonPathStep {
	var out []jsonPathStep
	for i := 0; i < len(expr); {
		switch c := expr[i]; {
		case c == '.' && i+1 < len(expr) && expr[i+1] == '.':
			out = append(out, jsonPathStep{kind: stepDescend})
			i += 2
			switch {
			case i < len(expr) && expr[i] == '*':
				out = append(out, jsonPathStep{kind: stepWildcard})
				i++
			case i < len(expr) && expr[i] != '[' && expr[i] != '.':
				// $..name: the name is a step of its own.
				out = append(out, jsonPathStep{kind: stepKeys, keys: 1})
			}
		case c == '.' && i+1 < len(expr) && expr[i+1] == '*':
			out = append(out, jsonPathStep{kind: stepWildcard})
			i += 2
		case c == '.':
			out = append(out, jsonPathStep{kind: stepKeys, keys: 1})
			i++
		case c == '[':
			end := closing(expr, i)
			out = append(out, bracketStep(expr[i+1:end]))
			i = end + 1
		case c == '(':
			end := closing(expr, i)
			out = append(out, jsonPathStep{kind: stepKeys, keys: 1, inner: expr[i+1 : end]})
			i = end + 1
		default:
			i++
		}
	}
	return out
}

// scanUnquoted calls visit for each byte of s from index from on that is
// outside a quoted string, with the bracket depth after that byte; the scan
// stops when visit returns false. closing and bracketStep read a path the
// same way, so they cannot disagree about quotes and nesting.
func scanUnquoted(s string, from int, visit func(i int, c byte, depth int) bool) {
	depth := 0
	var quote byte
	for i := from; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			switch c {
			case '\\':
				i++
			case quote:
				quote = 0
			}
			continue
		case c == '"' || c == '\'' || c == '`':
			quote = c
			continue
		case c == '[' || c == '(':
			depth++
		case c == ']' || c == ')':
			depth--
		}
		if !visit(i, c, depth) {
			return
		}
	}
}

// closing finds the bracket that closes the one at open, skipping quoted
// strings and nested brackets; the end of expr if there is none.
func closing(expr string, open int) int {
	end := len(expr)
	scanUnquoted(expr, open, func(i int, c byte, depth int) bool {
		if (c == ']' || c == ')') && depth == 0 {
			end = i
			return false
		}
		return true
	})
	return end
}

func bracketStep(body string) jsonPathStep {
	trimmed := strings.TrimSpace(body)
	if strings.HasPrefix(trimmed, "?") {
		return jsonPathStep{kind: stepWildcard, inner: trimmed[1:]}
	}
	keys, wildcard := int64(1), false
	scanUnquoted(body, 0, func(_ int, c byte, depth int) bool {
		switch {
		case depth == 0 && c == ',':
			keys++
		case depth == 0 && (c == '*' || c == ':'):
			wildcard = true
		}
		return true
	})
	inner := ""
	if strings.ContainsAny(body, "([$@") {
		inner = body
	}
	if wildcard {
		return jsonPathStep{kind: stepWildcard, inner: inner}
	}
	return jsonPathStep{kind: stepKeys, keys: keys, inner: inner}
}

// EventReader evaluates a config's JSONPaths against one event, under one
// budget (MaxJSONPathWorkPerEvent) and the request's context: the filters
// of one Match, or the env values of one Job.
type EventReader struct {
	ctx   context.Context
	doc   map[string]any
	shape *shape
	spent int64
}

// NewEventReader reads doc, the mapped event (keptn.TaskEvent.Document),
// until ctx ends.
func NewEventReader(ctx context.Context, doc map[string]any) *EventReader {
	return &EventReader{ctx: ctx, doc: doc}
}

// errBudget is a JSONPath refused for what it would cost on this event.
type errBudget struct{ msg string }

func (e *errBudget) Error() string { return e.msg }

func (r *EventReader) evaluate(eval evaluable, expr string) (any, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: not evaluated: %w", expr, err)
	}
	if r.shape == nil {
		sh := shapeOf(r.doc)
		r.shape = &sh
	}
	price := jsonPathWork(expr, *r.shape, MaxJSONPathWork)
	if price > MaxJSONPathWork {
		return nil, &errBudget{fmt.Sprintf("%s would take more than the %d steps one JSONPath may take on this event (%d values, %d deep, up to %d in one object or list): recursive descent (..), wildcards and filters multiply; name the path instead",
			expr, MaxJSONPathWork, r.shape.nodes, r.shape.depth, r.shape.width)}
	}
	if r.spent+price > MaxJSONPathWorkPerEvent {
		return nil, &errBudget{fmt.Sprintf("%s is not evaluated: the config's JSONPaths would take more than %d steps on this event in all", expr, MaxJSONPathWorkPerEvent)}
	}
	r.spent += price
	return evaluateIn(r.ctx, eval, expr, r.doc)
}
