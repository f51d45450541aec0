package manifests

import (
	"bytes"
	"regexp"
)

// Document is one YAML document of a multi-document file.
type Document struct {
	// Line is the 1-based line of the document's first line in its file,
	// so errors can point at it.
	Line int
	Data []byte
}

var separator = regexp.MustCompile(`^---\s*(#.*)?$`)

// Split cuts a YAML stream at its "---" lines, dropping documents that hold
// only comments or blank lines (kubectl ignores them too).
func Split(data []byte) []Document {
	var docs []Document
	var cur bytes.Buffer
	start := 1
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, Document{Line: start, Data: bytes.Clone(cur.Bytes())})
		}
		cur.Reset()
	}
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		if separator.Match(bytes.TrimRight(line, "\r\n")) {
			flush()
			start = i + 2
			continue
		}
		cur.Write(line)
	}
	flush()
	return docs
}

func hasContent(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return true
		}
	}
	return false
}
