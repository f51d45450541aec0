package testbed

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// CronTicker stands in for Knative's PingSource adapter on a compressed
// clock: each Tick is the next minute of the schedule. Like mtping, it
// takes the schedule from the PingSource as the API server holds it now,
// and calls Ping when the schedule fires in that minute, so a schedule the
// function writes takes effect at the next tick.
type CronTicker struct {
	Client dynamic.ResourceInterface // PingSources in the source's namespace
	Name   string
	Ping   func() error
	// Minute is the minute of the last tick; Fired counts pings.
	Minute time.Time
	Fired  int
}

// NewCronTicker starts the clock at 10:00 (already past): an hourly
// schedule next fires at the 60th tick.
func NewCronTicker(client dynamic.ResourceInterface, name string, ping func() error) *CronTicker {
	return &CronTicker{Client: client, Name: name, Ping: ping, Minute: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
}

// Schedule is the PingSource's spec.schedule.
func (c *CronTicker) Schedule(ctx context.Context) (string, error) {
	obj, err := c.Client.Get(ctx, c.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("testbed: pingsource %s: %w", c.Name, err)
	}
	s, _, err := unstructured.NestedString(obj.Object, "spec", "schedule")
	return s, err
}

// Tick advances one minute and reports whether it pinged.
func (c *CronTicker) Tick(ctx context.Context) (bool, error) {
	c.Minute = c.Minute.Add(time.Minute)
	s, err := c.Schedule(ctx)
	if err != nil {
		return false, err
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return false, fmt.Errorf("testbed: pingsource %s schedule %q: %w", c.Name, s, err)
	}
	if !sched.Next(c.Minute.Add(-time.Second)).Equal(c.Minute) {
		return false, nil
	}
	c.Fired++
	return true, c.Ping()
}
