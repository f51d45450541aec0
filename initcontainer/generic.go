package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// The generic mode's inputs (docs/generic.md): the function puts the event
// in the fetcher's env and mounts the operator's ConfigMap for the files.
// No credentials: there is nothing to fetch from Keptn.
const (
	eventEnv    = "K_EVENT"
	filesDirEnv = "JOB_FILES_DIR"
	// eventFile is where the tasks find the event (K_EVENT_PATH).
	eventFile = "event.json"
)

// genericSettings reads the generic mode's env and its PATHs, which are
// keys of the mounted ConfigMap.
func (s *settings) genericSettings(args []string, getenv func(string) string) error {
	s.event = getenv(eventEnv)
	s.filesDir = getenv(filesDirEnv)
	if s.event == "" {
		return errors.New(eventEnv + " is not set: --generic writes the event it holds")
	}
	for _, a := range args {
		if !isConfigMapKey(a) {
			return &exitError{code: exitUnsafePath, err: fmt.Errorf("%w: file entry %q is not a ConfigMap key (1 to 253 of [-._a-zA-Z0-9], not . nor starting with ..)", errUnsafe, a)}
		}
		s.keys = append(s.keys, a)
	}
	if len(s.keys) > 0 && s.filesDir == "" {
		return errors.New(filesDirEnv + " is not set: --generic reads the files from that directory")
	}
	return nil
}

// executeGeneric writes the event to the workspace, then copies each key
// from the mounted ConfigMap.
func executeGeneric(s *settings, stdout io.Writer) error {
	ws, err := openWorkspace(s.workspace, s.maxBytes, s.groupWritable)
	if err != nil {
		return err
	}
	defer ws.Close()
	if err := ws.write(eventFile, []byte(s.event)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the event (%d bytes) to %s/%s\n", len(s.event), s.workspace, eventFile)
	if len(s.keys) == 0 {
		return nil
	}
	// A ConfigMap volume's keys are symlinks into its ..data directory,
	// inside the mount: the root allows them and nothing outside.
	root, err := os.OpenRoot(s.filesDir)
	if err != nil {
		return fail(exitInternal, "%s %s: %w", filesDirEnv, s.filesDir, err)
	}
	defer root.Close()
	var total int
	for _, k := range s.keys {
		content, err := root.ReadFile(k)
		if errors.Is(err, fs.ErrNotExist) {
			return fail(exitNotFound, "file entry %q: no such key in the ConfigMap mounted at %s", k, s.filesDir)
		}
		if err != nil {
			return fail(exitInternal, "file entry %q: %w", k, err)
		}
		if err := ws.write(k, content); err != nil {
			return err
		}
		total += len(content)
	}
	fmt.Fprintf(stdout, "copied %d files (%d bytes) into %s\n", len(s.keys), total, s.workspace)
	return nil
}

// isConfigMapKey is Kubernetes' rule for ConfigMap keys (the fetcher carries
// no Kubernetes library): such a key is a plain file name, never a path.
func isConfigMapKey(k string) bool {
	if k == "" || len(k) > 253 || k == "." || strings.HasPrefix(k, "..") {
		return false
	}
	for _, r := range k {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
