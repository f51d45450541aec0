package jobconfig

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keptn-sandbox/job-executor-knative/pkg/yamlnode"
)

// FieldError is one problem in a config, located by line, column and field
// path so that an author can find it without reading our code. It marshals to
// JSON as-is, for tools that collect errors.
type FieldError struct {
	File string `json:"file"`
	// Line and Column are 1-based. Column is 0 when the YAML parser did not
	// report one (syntax errors).
	Line    int    `json:"line"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// Error renders "file:line:column: path: message", leaving out the parts that
// are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	b.WriteString(strconv.Itoa(e.Line))
	if e.Column > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Column))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ErrorList is every problem Parse found, in document order, so an author can
// fix them all in one go. Error joins them one per line.
type ErrorList []*FieldError

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// ForAction returns the errors located inside actions[i], so that a caller can
// fail exactly the actions an event would have run with their own messages.
func (l ErrorList) ForAction(i int) ErrorList {
	prefix := "actions[" + strconv.Itoa(i) + "]"
	var out ErrorList
	for _, e := range l {
		if e.Path == prefix || strings.HasPrefix(e.Path, prefix+".") {
			out = append(out, e)
		}
	}
	return out
}

// Errorf makes a FieldError for a field below pos (field may be "" for pos
// itself), for problems found after parsing, such as a JSONPath that finds
// nothing in an event. It keeps every error about a config in one format.
func (c *Config) Errorf(pos Pos, field, format string, args ...any) *FieldError {
	return &FieldError{
		File:    c.File,
		Line:    pos.Line,
		Column:  pos.Column,
		Path:    yamlnode.JoinPath(pos.Path, field),
		Message: fmt.Sprintf(format, args...),
	}
}
