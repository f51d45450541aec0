package finished

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
)

// KeptnMaxEventBytes is the api-service's default MAX_EVENT_SIZE_KB.
const KeptnMaxEventBytes = 64 << 10

// Log is one container's log as fetched: all of it in Head, or its head and
// tail with Cut bytes between them that were not read.
type Log struct {
	// Title names the container in the message.
	Title string
	Head  string
	Tail  string
	Cut   int64
	// AtLeast: the log was longer than could be read, Cut is a lower bound.
	AtLeast bool
	// Err says why there is no log.
	Err string
}

// ErrTooLarge means even a message without logs does not fit the limit.
// It is permanent (pkg/permanent): the same Job gives the same message.
var ErrTooLarge = permanent.New(errors.New("the .finished event does not fit the size limit"))

// Compose appends logs to f's message, cutting the middle out of long logs
// so that the event, as measured by size, stays within limit bytes. size
// must measure the whole marshalled event for a given Finished.
func Compose(f keptn.Finished, logs []Log, limit int, size func(keptn.Finished) (int, error)) (keptn.Finished, error) {
	base, err := size(f)
	if err != nil {
		return f, err
	}
	if base > limit {
		return shrinkHead(f, limit, size)
	}
	avail := limit - base
	// jsonLen is exact for encoding/json, but the event encoder may differ
	// in detail (a sink's envelope); measure and give back any excess.
	for range 4 {
		out := f
		out.Message = f.Message + logSection(logs, avail)
		n, err := size(out)
		if err != nil {
			return f, err
		}
		if n <= limit {
			return out, nil
		}
		avail -= n - limit + 64
		if avail <= 0 {
			break
		}
	}
	return f, nil
}

// shrinkHead fits a message whose lines alone are too long (hundreds of
// tasks), then, if that is not enough, drops the structured results.
func shrinkHead(f keptn.Finished, limit int, size func(keptn.Finished) (int, error)) (keptn.Finished, error) {
	empty := f
	empty.Message = ""
	n, err := size(empty)
	if err != nil {
		return f, err
	}
	if n > limit && len(f.Extra) > 0 {
		// Keep data.test (lighthouse needs it), drop the tasks' results.
		extra := map[string]any{}
		if t, ok := f.Extra["test"]; ok {
			extra["test"] = t
		}
		f.Extra = extra
		f.Message = "[structured results dropped: they do not fit Keptn's event size limit]\n" + f.Message
		empty.Extra = extra
		if n, err = size(empty); err != nil {
			return f, err
		}
	}
	if n > limit {
		return f, fmt.Errorf("%w: %d bytes without a message, limit %d", ErrTooLarge, n, limit)
	}
	budget := limit - n
	for range 4 {
		out := f
		out.Message = cutText(f.Message, "", 0, false, budget)
		m, err := size(out)
		if err != nil {
			return f, err
		}
		if m <= limit {
			return out, nil
		}
		budget -= m - limit + 64
	}
	return f, fmt.Errorf("%w: cannot cut the message to %d bytes", ErrTooLarge, limit)
}

// logSection renders logs within avail bytes of JSON string content. Each
// log gets a fair share; what a short log leaves over goes to the others.
func logSection(logs []Log, avail int) string {
	if len(logs) == 0 {
		return ""
	}
	titles := make([]string, len(logs))
	bodies := make([]int, len(logs))
	fixed := 0
	for i, l := range logs {
		titles[i] = "\n\n--- log of " + l.Title + " ---\n"
		if l.Err != "" {
			titles[i] = "\n\n--- no log of " + l.Title + ": " + verdict.Fold(l.Err) + " ---"
		}
		fixed += jsonLen(titles[i])
		if l.Err == "" {
			bodies[i] = jsonLen(fullText(l))
		}
	}
	if fixed > avail {
		return ""
	}
	share := allot(bodies, avail-fixed)
	var out []byte
	for i, l := range logs {
		out = append(out, titles[i]...)
		if l.Err == "" {
			out = append(out, cutText(l.Head, l.Tail, l.Cut, l.AtLeast, share[i])...)
		}
	}
	return string(out)
}

// allot splits budget among wants by water-filling: nobody gets more than
// they want, and the rest is shared equally.
func allot(wants []int, budget int) []int {
	got := make([]int, len(wants))
	order := make([]int, len(wants))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return wants[a] - wants[b] })
	left := len(wants)
	for _, i := range order {
		share := budget / left
		got[i] = min(wants[i], share)
		budget -= got[i]
		left--
	}
	return got
}

func fullText(l Log) string {
	return joinCut(l.Head, l.Tail, l.Cut, l.AtLeast)
}

// joinCut is head and tail with a marker between them when bytes are
// missing there.
func joinCut(head, tail string, cut int64, atLeast bool) string {
	if cut == 0 && !atLeast {
		return head + tail
	}
	return head + marker(cut, atLeast) + tail
}

func marker(n int64, atLeast bool) string {
	if atLeast {
		return "\n[... at least " + strconv.FormatInt(n, 10) + " bytes cut ...]\n"
	}
	return "\n[... " + strconv.FormatInt(n, 10) + " bytes cut ...]\n"
}

// cutText renders head [cut bytes] tail within budget bytes of JSON string
// content, keeping the first third and the last two thirds of what fits:
// the end of a log usually says why it failed.
func cutText(head, tail string, cut int64, atLeast bool, budget int) string {
	full := joinCut(head, tail, cut, atLeast)
	if jsonLen(full) <= budget {
		return full
	}
	// Room for the marker with the longest possible count.
	room := budget - jsonLen(marker(1<<62, atLeast))
	if room <= 0 {
		return ""
	}
	total := int64(len(head)) + cut + int64(len(tail))
	var h, t string
	if tail == "" {
		h = prefixWithin(head, room/3)
		t = suffixWithin(head[len(h):], room-jsonLen(h))
	} else {
		t = suffixWithin(tail, room-room/3)
		h = prefixWithin(head, room-jsonLen(t))
	}
	return h + marker(total-int64(len(h))-int64(len(t)), atLeast) + t
}

// prefixWithin is the longest prefix of s, on a rune boundary, whose JSON
// string content is at most n bytes.
func prefixWithin(s string, n int) string {
	used := 0
	for i, r := range s {
		w := runeJSONLen(r, s[i:])
		if used+w > n {
			return s[:i]
		}
		used += w
	}
	return s
}

// suffixWithin is the longest suffix of s, on a rune boundary, whose JSON
// string content is at most n bytes.
func suffixWithin(s string, n int) string {
	used := 0
	i := len(s)
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		w := runeJSONLen(r, s[i-size:])
		if used+w > n {
			break
		}
		used += w
		i -= size
	}
	return s[i:]
}

// jsonLen is the length of s inside a JSON string as encoding/json writes
// it (with its HTML escaping).
func jsonLen(s string) int {
	n := 0
	for i, r := range s {
		n += runeJSONLen(r, s[i:])
	}
	return n
}

// runeJSONLen is the encoded length of r, the first rune of rest.
func runeJSONLen(r rune, rest string) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t' || r == '\b' || r == '\f':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	case r == utf8.RuneError:
		if _, size := utf8.DecodeRuneInString(rest); size == 1 {
			return 6 // an invalid byte becomes \ufffd
		}
		return 3
	}
	return utf8.RuneLen(r)
}
