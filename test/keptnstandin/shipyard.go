package keptnstandin

import (
	"fmt"
	"strings"
	"sync"
)

// shipyard models how Keptn's shipyard-controller counts a task's
// responses (models/sequence_execution.go, TaskExecutionState.IsFinished,
// Keptn 1.4.5): for one task and triggeredid, the task is done as soon as the
// .finished events equal the .started events and are more than zero. It
// does not de-duplicate by event id. Every event that arrives for a task it
// has closed is dropped with "The received <type> event ... is not
// accociated with a task that was previously triggered", while the
// api-service has already answered 200: the sender never learns.
//
// The stand-in answers 200 as well, and records such an event as a
// ShipyardViolation, which fails the test at cleanup: a result that Keptn
// would have lost.
type shipyard struct {
	mu         sync.Mutex
	tasks      map[string]*taskCount
	violations []ShipyardViolation
}

type taskCount struct {
	started, finished int
	closed            bool
}

// ShipyardViolation is an event Keptn's shipyard-controller would have
// dropped because its task was closed already.
type ShipyardViolation struct {
	Type        string
	Triggeredid string
	// Started and Finished are the counts at which the task closed.
	Started, Finished int
}

func (v ShipyardViolation) String() string {
	return fmt.Sprintf("The received %s event with triggeredid %s is not accociated with a task that was previously triggered: "+
		"the task closed at %d .started / %d .finished, so Keptn drops this event", v.Type, v.Triggeredid, v.Started, v.Finished)
}

// count adds one accepted event to its task.
func (s *shipyard) count(typ, triggeredid string) {
	task, kind, ok := taskResponse(typ)
	if !ok || triggeredid == "" {
		return
	}
	key := task + "/" + triggeredid
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tasks == nil {
		s.tasks = map[string]*taskCount{}
	}
	tc := s.tasks[key]
	if tc == nil {
		tc = &taskCount{}
		s.tasks[key] = tc
	}
	if tc.closed {
		s.violations = append(s.violations, ShipyardViolation{Type: typ, Triggeredid: triggeredid, Started: tc.started, Finished: tc.finished})
		return
	}
	if kind == "started" {
		tc.started++
	} else {
		tc.finished++
	}
	tc.closed = tc.finished == tc.started && tc.finished > 0
}

// taskResponse splits a task event type sh.keptn.event.<task>.<kind>
// (five parts, as go-utils' IsTaskEventType) whose kind is "started" or
// "finished".
func taskResponse(typ string) (task, kind string, ok bool) {
	parts := strings.Split(typ, ".")
	if len(parts) != 5 || parts[0] != "sh" || parts[1] != "keptn" || parts[2] != "event" {
		return "", "", false
	}
	switch parts[4] {
	case "started", "finished":
		return parts[3], parts[4], true
	}
	return "", "", false
}

// TaskClosed reports whether the shipyard-controller would consider task
// (e.g. "test") of triggeredid done, and with how many .started and
// .finished.
func (s *Server) TaskClosed(task, triggeredid string) (closed bool, started, finished int) {
	s.shipyard.mu.Lock()
	defer s.shipyard.mu.Unlock()
	tc := s.shipyard.tasks[task+"/"+triggeredid]
	if tc == nil {
		return false, 0, 0
	}
	return tc.closed, tc.started, tc.finished
}

// ShipyardViolations returns the events Keptn would have dropped because
// their task had closed, oldest first.
func (s *Server) ShipyardViolations() []ShipyardViolation {
	s.shipyard.mu.Lock()
	defer s.shipyard.mu.Unlock()
	return append([]ShipyardViolation(nil), s.shipyard.violations...)
}

// CheckShipyard fails t for every event Keptn would have dropped.
func (s *Server) CheckShipyard(t TB) {
	t.Helper()
	for _, v := range s.ShipyardViolations() {
		t.Errorf("keptn stand-in (shipyard counting): %s", v)
	}
}
