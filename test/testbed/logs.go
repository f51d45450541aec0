package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// logRules tracks the pod log texts tests chose. kwok serves pods/log from
// files named by ClusterLogs objects; the bed keeps one ClusterLogs per
// namespace that maps container names to files under dir.
type logRules struct {
	dir string
	mu  sync.Mutex
	// files[namespace][container] is the file served for that container;
	// the container "" is the namespace's default.
	files map[string]map[string]string
}

func newLogRules(dir string) *logRules {
	return &logRules{dir: dir, files: map[string]map[string]string{}}
}

// logTimestamp is the time written into every log line; tests that ask for
// timestamps get a fixed, known value.
var logTimestamp = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// SetLogs makes `GET pods/<pod>/log?container=<container>` return text for
// every pod in namespace, each line followed by a newline. An empty
// container sets the text for containers without their own. Set logs before
// reading them: kwok picks up the rule from a watch, shortly after.
func (b *Bed) SetLogs(ctx context.Context, namespace, container, text string) error {
	r := b.logs
	r.mu.Lock()
	defer r.mu.Unlock()
	name := container
	if name == "" {
		name = "_default"
	}
	file := filepath.Join(r.dir, namespace, name+".log")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	// Write then rename, so a concurrent read never sees half a file.
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, CRILog(text, logTimestamp), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		return err
	}
	if r.files[namespace] == nil {
		r.files[namespace] = map[string]string{}
	}
	if _, known := r.files[namespace][container]; known {
		return nil // kwok reads the file on every request
	}
	r.files[namespace][container] = file
	_, err := b.ApplyObjects(ctx, "", clusterLogs(namespace, r.files[namespace]))
	if err != nil {
		delete(r.files[namespace], container)
		return fmt.Errorf("testbed: set logs for %s/%s: %w", namespace, container, err)
	}
	return nil
}

// clusterLogs is the kwok ClusterLogs object for one namespace's rules.
func clusterLogs(namespace string, files map[string]string) *unstructured.Unstructured {
	containers := make([]string, 0, len(files))
	for c := range files {
		containers = append(containers, c)
	}
	sort.Strings(containers)
	logs := make([]any, 0, len(containers))
	for _, c := range containers {
		entry := map[string]any{"logsFile": files[c]}
		// kwok treats an entry without containers as the default.
		if c != "" {
			entry["containers"] = []any{c}
		}
		logs = append(logs, entry)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterLogs",
		"metadata":   map[string]any{"name": "testbed-logs-" + namespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{namespace}},
			"logs":     logs,
		},
	}}
}

// CRILog renders text in the CRI container log format that kubelets (and
// kwok) read: one "<RFC 3339 time> stdout F <line>" record per line. A final
// newline in text does not add an empty line.
func CRILog(text string, at time.Time) []byte {
	ts := at.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
	text = strings.TrimSuffix(text, "\n")
	var sb strings.Builder
	if text == "" {
		return nil
	}
	for _, line := range strings.Split(text, "\n") {
		sb.WriteString(ts)
		sb.WriteString(" stdout F ")
		sb.WriteString(line)
		sb.WriteByte('\n')
	}
	return []byte(sb.String())
}
