package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

const (
	namePrefix = "keptn-"
	// hashLen hex digits of SHA-256 (64 bits) keep collisions out of reach
	// for any realistic number of live Jobs while leaving room for a readable
	// part.
	hashLen = 16
	// maxNameLen is 63, not 253, because the Job controller copies the name
	// into the pod's job-name label, whose values are limited to 63.
	maxNameLen = 63
)

// Name is the deterministic Job name for (event source, event id, action
// index). Redelivery of an event yields the same name, so creating it again is
// an AlreadyExists, never a second run. The readable part (the sanitised
// action name) is for people; uniqueness comes from the hash alone.
func Name(source, eventID string, actionIndex int, actionName string) string {
	h := sha256.New()
	for _, part := range []string{source, eventID, strconv.Itoa(actionIndex)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	sum := hex.EncodeToString(h.Sum(nil))[:hashLen]
	room := maxNameLen - len(namePrefix) - len(sum) - 1
	readable := dnsLabelPart(actionName, room)
	if readable == "" {
		return namePrefix + sum
	}
	return namePrefix + readable + "-" + sum
}

// AfterWaitName is the name of the Job that takes over from the
// placeholder name (AnnotationWaiting) once the wait ends: the real run, or
// the errored record of an action given up. It keeps the readable part and
// re-hashes, so it is as deterministic as Name and fits the same bound.
func AfterWaitName(name string) string {
	sum := sha256.Sum256([]byte(name + "\x00after-wait"))
	hash := hex.EncodeToString(sum[:])[:hashLen]
	readable := strings.TrimPrefix(name, namePrefix)
	if i := strings.LastIndexByte(readable, '-'); i >= 0 {
		readable = readable[:i]
	} else {
		readable = ""
	}
	if readable == "" {
		return namePrefix + hash
	}
	return namePrefix + readable + "-" + hash
}

// dnsLabelPart lower-cases s, replaces runs of anything outside [a-z0-9] with
// one '-', trims '-' at both ends and cuts it to at most limit characters.
func dnsLabelPart(s string, limit int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	out := b.String()
	if len(out) > limit {
		out = out[:limit]
	}
	return strings.Trim(out, "-")
}

// ContainerName is the container of the task at index i. Names are DNS
// labels, unique in the pod because of the index, and still say which task.
func ContainerName(i int, taskName string) string {
	prefix := "task-" + strconv.Itoa(i)
	part := dnsLabelPart(taskName, maxNameLen-len(prefix)-1)
	if part == "" {
		return prefix
	}
	return prefix + "-" + part
}

// LabelValue makes s a valid label value (at most 63 characters of
// [-A-Za-z0-9_.], starting and ending alphanumeric). Values that had to change
// get a short hash suffix so distinct inputs stay distinct.
func LabelValue(s string) string {
	if isLabelValue(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(s))
	suffix := hex.EncodeToString(sum[:])[:8]
	out := b.String()
	if len(out) > maxNameLen-len(suffix)-1 {
		out = out[:maxNameLen-len(suffix)-1]
	}
	out = strings.Trim(out, "-_.")
	if out == "" {
		return suffix
	}
	return out + "-" + suffix
}

func isLabelValue(s string) bool {
	if len(s) > maxNameLen {
		return false
	}
	for i, r := range s {
		alnum := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if alnum {
			continue
		}
		if (r == '-' || r == '_' || r == '.') && i > 0 && i < len(s)-1 {
			continue
		}
		return false
	}
	return true
}
