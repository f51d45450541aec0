package launch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

// ErrNoConfig means no level of the Keptn repository has job/config.yaml:
// the event is not for us.
var ErrNoConfig = errors.New("no job/config.yaml at service, stage or project level")

// Configs finds and parses job/config.yaml for an event: service and stage
// level at the event's commit, then project level (resources.FindWithFallback).
// Parsed configs are kept by content hash, so a busy sequence parses each
// version once.
type Configs struct {
	Resources resources.ResourceGetter
	Options   []jobconfig.Option

	mu     sync.Mutex
	parsed map[string]*jobconfig.Config
	// held is the sum of the cached configs' Cost.
	held int64
}

// maxParsedBytes bounds the parse cache by what its configs cost to hold
// (jobconfig.Config.Cost), not by their number: one config may cost up to
// jobconfig.Limits.MaxCost, and the function runs in 256 Mi.
const maxParsedBytes = 32 << 20

// Load returns the event's jobconfig. A config that does not validate is
// returned with its jobconfig.ErrorList (the config may be partial, so actions
// that would match can still be failed with their own errors).
func (c *Configs) Load(ctx context.Context, ev *keptn.TaskEvent) (*jobconfig.Config, error) {
	scope := resources.Scope{Project: ev.Project, Stage: ev.Stage, Service: ev.Service}
	res, level, err := resources.FindWithFallback(ctx, c.Resources, scope, jobconfig.ResourceURI, ev.GitCommitID)
	if errors.Is(err, resources.ErrNotFound) {
		return nil, ErrNoConfig
	}
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", jobconfig.ResourceURI, err)
	}
	file := fmt.Sprintf("%s (%s level", jobconfig.ResourceURI, level.Level())
	if res.Version != "" {
		file += " at " + res.Version
	}
	file += ")"
	return c.parse(file, res.Content)
}

// parse parses content, or returns the config parsed from the same file
// name and content before.
func (c *Configs) parse(file string, content []byte) (*jobconfig.Config, error) {
	sum := sha256.Sum256(content)
	key := file + "\x00" + string(sum[:])
	c.mu.Lock()
	cfg, ok := c.parsed[key]
	c.mu.Unlock()
	if ok {
		return cfg, nil
	}
	cfg, err := jobconfig.Parse(file, content, c.Options...)
	if err != nil {
		return cfg, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parsed == nil || c.held+cfg.Cost > maxParsedBytes {
		// Starting over is simpler than LRU and as good: a busy sequence
		// reads the same few versions.
		c.parsed, c.held = map[string]*jobconfig.Config{}, 0
	}
	if _, ok := c.parsed[key]; !ok && cfg.Cost <= maxParsedBytes {
		c.parsed[key] = cfg
		c.held += cfg.Cost
	}
	return cfg, nil
}
