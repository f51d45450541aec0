package function

import (
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func TestSweepSwitch(t *testing.T) {
	rc := &rest.Config{Host: "https://127.0.0.1:1"}
	for _, tc := range []struct {
		name      string
		cfg       map[string]string
		wantNil   bool
		wantErr   string
		wantArmed string
		wantIdle  string
	}{
		{"unset: the schedule is left alone", map[string]string{}, true, "", "", ""},
		{"defaults", map[string]string{"SWEEP_PINGSOURCE": "ns/sweep"}, false, "", "* * * * *", "0 * * * *"},
		{"operator's safety sweep", map[string]string{"SWEEP_PINGSOURCE": "ns/sweep", "SWEEP_IDLE_SCHEDULE": "0 3 * * *"}, false, "", "* * * * *", "0 3 * * *"},
		{"no namespace", map[string]string{"SWEEP_PINGSOURCE": "sweep"}, true, "SWEEP_PINGSOURCE \"sweep\": want <namespace>/<name>", "", ""},
		{"empty name", map[string]string{"SWEEP_PINGSOURCE": "ns/"}, true, "want <namespace>/<name>", "", ""},
		{"too many parts", map[string]string{"SWEEP_PINGSOURCE": "ns/a/b"}, true, "want <namespace>/<name>", "", ""},
		{"same schedules", map[string]string{"SWEEP_PINGSOURCE": "ns/sweep", "SWEEP_IDLE_SCHEDULE": "* * * * *"}, true, "SWEEP_SCHEDULE and SWEEP_IDLE_SCHEDULE are both", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw, err := sweepSwitch(tc.cfg, rc, "me", time.Minute)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (sw == nil) != tc.wantNil {
				t.Fatalf("switch %v, want nil=%v", sw, tc.wantNil)
			}
			if sw != nil && (sw.Armed != tc.wantArmed || sw.Idle != tc.wantIdle || sw.Name != "sweep" || sw.Hold != time.Minute) {
				t.Fatalf("switch %+v", sw)
			}
		})
	}
}

func FuzzPingSourceRef(f *testing.F) {
	for _, s := range []string{"ns/sweep", "sweep", "ns/", "/x", "a/b/c", " ns/x", "ns/x ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		ns, name, err := pingSourceRef(ref)
		if err != nil {
			if !strings.Contains(err.Error(), "SWEEP_PINGSOURCE") {
				t.Fatalf("error %q does not name the setting", err)
			}
			return
		}
		if ns == "" || name == "" || strings.Contains(name, "/") || ns+"/"+name != ref {
			t.Fatalf("%q split into %q and %q", ref, ns, name)
		}
	})
}
