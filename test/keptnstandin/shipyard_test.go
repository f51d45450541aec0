package keptnstandin

import "testing"

func TestShipyardCounting(t *testing.T) {
	const s, f = "sh.keptn.event.test.started", "sh.keptn.event.test.finished"
	for name, tc := range map[string]struct {
		events     []string
		closed     bool
		violations int
	}{
		"one pair":                        {[]string{s, f}, true, 0},
		"all started first":               {[]string{s, s, f, f}, true, 0},
		"one started only":                {[]string{s}, false, 0},
		"interleaved: B's events dropped": {[]string{s, f, s, f}, true, 2},
		"a re-sent .finished counts":      {[]string{s, s, f, f, f}, true, 1},
		"finished without started":        {[]string{f}, false, 0},
	} {
		t.Run(name, func(t *testing.T) {
			srv, err := New()
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range tc.events {
				srv.shipyard.count(typ, "tid")
			}
			srv.shipyard.count("sh.keptn.event.other.started", "tid") // another task: its own count
			if closed, _, _ := srv.TaskClosed("test", "tid"); closed != tc.closed {
				t.Errorf("closed = %v, want %v", closed, tc.closed)
			}
			tb := &fakeTB{}
			srv.CheckShipyard(tb)
			if len(tb.errs) != tc.violations {
				t.Errorf("violations %q, want %d", tb.errs, tc.violations)
			}
		})
	}
}
