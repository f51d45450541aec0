package wake

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// cluster holds one PingSource and a count of unreported Jobs, and lets a
// test run another replica's step at a chosen point of a call sequence.
type cluster struct {
	ps    *unstructured.Unstructured
	rv    int
	jobs  int
	calls []string
	// at runs before the named call ("get", "update", "list") of the
	// given ordinal (1-based) reaches the store.
	at   map[string]func()
	fail map[string]error
}

func newCluster(schedule string) *cluster {
	ps := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sources.knative.dev/v1", "kind": "PingSource",
		"metadata": map[string]any{"name": "sweep", "namespace": "ns", "resourceVersion": "1"},
		"spec":     map[string]any{"schedule": schedule},
	}}
	return &cluster{ps: ps, rv: 1, at: map[string]func(){}, fail: map[string]error{}}
}

func (c *cluster) hook(op string) error {
	c.calls = append(c.calls, op)
	n := 0
	for _, x := range c.calls {
		if x == op {
			n++
		}
	}
	key := op + "#" + strconv.Itoa(n)
	if f := c.at[key]; f != nil {
		delete(c.at, key)
		f()
	}
	return c.fail[key]
}

func (c *cluster) Get(_ context.Context, name string, _ metav1.GetOptions, _ ...string) (*unstructured.Unstructured, error) {
	if err := c.hook("get"); err != nil {
		return nil, err
	}
	return c.ps.DeepCopy(), nil
}

func (c *cluster) Update(_ context.Context, obj *unstructured.Unstructured, _ metav1.UpdateOptions, _ ...string) (*unstructured.Unstructured, error) {
	if err := c.hook("update"); err != nil {
		return nil, err
	}
	if obj.GetResourceVersion() != strconv.Itoa(c.rv) {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: "sources.knative.dev", Resource: "pingsources"}, obj.GetName(), errors.New("changed"))
	}
	c.rv++
	obj = obj.DeepCopy()
	obj.SetResourceVersion(strconv.Itoa(c.rv))
	c.ps = obj
	return obj.DeepCopy(), nil
}

func (c *cluster) unreported(context.Context) (int, error) {
	if err := c.hook("list"); err != nil {
		return 0, err
	}
	return c.jobs, nil
}

func (c *cluster) schedule() string { return schedule(c.ps) }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newSwitch(c *cluster, clk *clock, holder string) *Switch {
	return &Switch{Client: c, Name: "sweep", Armed: "* * * * *", Idle: "0 * * * *", Holder: holder, Hold: time.Minute, Now: clk.now}
}

// create is what a replica does for one Job (function.armingJobs): arm,
// create, check.
func create(t *testing.T, s *Switch, c *cluster) {
	t.Helper()
	if err := s.Arm(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.jobs++
	if _, err := s.EnsureArmed(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestDangerousOrderings interleaves a creating replica B with a disarming
// replica A at every step of A's disarm; the end state must never be idle
// with a Job unreported.
func TestDangerousOrderings(t *testing.T) {
	type step struct {
		name string
		// at is the call of A's disarm before which B acts.
		at string
		// b is B's action on the cluster.
		b func(t *testing.T, s *Switch, c *cluster)
	}
	whole := func(t *testing.T, s *Switch, c *cluster) { create(t, s, c) }
	armOnly := func(t *testing.T, s *Switch, c *cluster) {
		if err := s.Arm(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	createOnly := func(t *testing.T, s *Switch, c *cluster) { c.jobs++ }
	for _, tc := range []step{
		{"B creates before A reads", "get#1", whole},
		{"B creates between A's read and list", "list#1", whole},
		{"B creates between A's list and update", "update#1", whole},
		{"B creates between A's update and second list", "list#2", whole},
		{"B arms before A reads, creates after A's update", "get#1", armOnly},
		{"B arms between A's read and list", "list#1", armOnly},
		{"B arms between A's list and update", "update#1", armOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster("* * * * *")
			clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
			a, b := newSwitch(c, clk, "a"), newSwitch(c, clk, "b")
			// Without Hold: the orderings are safe by the writes and
			// reads alone; Hold is for a creator that crashes
			// (TestHoldAfterArming).
			a.Hold = 0
			create(t, a, c)
			c.jobs--
			clk.t = clk.t.Add(2 * time.Minute)
			c.calls = nil
			c.at[tc.at] = func() { tc.b(t, b, c) }
			idle, err := a.Disarm(context.Background(), c.unreported)
			if err != nil {
				t.Fatal(err)
			}
			if c.jobs == 0 {
				// B only armed; it creates and checks after A's disarm.
				createOnly(t, b, c)
				if _, err := b.EnsureArmed(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if c.schedule() != "* * * * *" {
				t.Fatalf("schedule %q with %d Job(s) unreported (Disarm said idle=%v; calls %v)", c.schedule(), c.jobs, idle, c.calls)
			}
		})
	}
}

// TestHoldAfterArming: a replica that armed and stalled before creating
// holds disarms off for Hold; after Hold, a disarm with nothing unreported
// goes idle.
func TestHoldAfterArming(t *testing.T) {
	c := newCluster("0 * * * *")
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	b := newSwitch(c, clk, "b")
	if err := b.Arm(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := newSwitch(c, clk, "a")
	clk.t = clk.t.Add(59 * time.Second)
	if idle, err := a.Disarm(context.Background(), c.unreported); err != nil || idle {
		t.Fatalf("disarmed within Hold of an arming (idle %v, err %v)", idle, err)
	}
	clk.t = clk.t.Add(2 * time.Second)
	if idle, err := a.Disarm(context.Background(), c.unreported); err != nil || !idle {
		t.Fatalf("not disarmed after Hold with nothing unreported (idle %v, err %v)", idle, err)
	}
	if c.schedule() != "0 * * * *" {
		t.Fatalf("schedule %q", c.schedule())
	}
}

func TestSwitch(t *testing.T) {
	boom := apierrors.NewServiceUnavailable("etcd")
	for _, tc := range []struct {
		name     string
		schedule string
		jobs     int
		fail     map[string]error
		op       func(s *Switch, c *cluster) error
		want     string
		wantErr  error
	}{
		{"arm writes when armed long ago", "* * * * *", 0, nil, func(s *Switch, c *cluster) error {
			before := c.rv
			err := s.Arm(context.Background())
			if c.rv == before {
				return errors.New("no write")
			}
			return err
		}, "* * * * *", nil},
		{"arm reads only within half the hold of the last arming", "* * * * *", 0, nil, func(s *Switch, c *cluster) error {
			if err := s.Arm(context.Background()); err != nil {
				return err
			}
			before := c.rv
			err := s.Arm(context.Background())
			if c.rv != before {
				return errors.New("wrote again")
			}
			return err
		}, "* * * * *", nil},
		{"arm fails: no create", "0 * * * *", 0, map[string]error{"get#1": boom}, func(s *Switch, c *cluster) error {
			return s.Arm(context.Background())
		}, "0 * * * *", ErrNotArmed},
		{"ensure armed reads only when armed", "* * * * *", 0, nil, func(s *Switch, c *cluster) error {
			before := c.rv
			_, err := s.EnsureArmed(context.Background())
			if c.rv != before {
				return errors.New("wrote")
			}
			return err
		}, "* * * * *", nil},
		{"a Job that ended while idle: the safety sweep arms", "0 * * * *", 1, nil, func(s *Switch, c *cluster) error {
			_, err := s.EnsureArmed(context.Background())
			return err
		}, "* * * * *", nil},
		{"disarm keeps armed while Jobs are unreported", "* * * * *", 2, nil, func(s *Switch, c *cluster) error {
			_, err := s.Disarm(context.Background(), c.unreported)
			return err
		}, "* * * * *", nil},
		{"a failed list does not disarm", "* * * * *", 0, map[string]error{"list#1": boom}, func(s *Switch, c *cluster) error {
			_, err := s.Disarm(context.Background(), c.unreported)
			return err
		}, "* * * * *", boom},
		{"a failed second list re-arms", "* * * * *", 0, map[string]error{"list#2": boom}, func(s *Switch, c *cluster) error {
			_, err := s.Disarm(context.Background(), c.unreported)
			return err
		}, "* * * * *", boom},
		{"disarm when idle reads only", "0 * * * *", 0, nil, func(s *Switch, c *cluster) error {
			before := c.rv
			_, err := s.Disarm(context.Background(), c.unreported)
			if c.rv != before {
				return errors.New("wrote")
			}
			return err
		}, "0 * * * *", nil},
		{"nil switch does nothing", "0 * * * *", 1, nil, func(_ *Switch, c *cluster) error {
			var s *Switch
			if err := s.Arm(context.Background()); err != nil {
				return err
			}
			_, err := s.Disarm(context.Background(), c.unreported)
			return err
		}, "0 * * * *", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(tc.schedule)
			c.jobs = tc.jobs
			for k, v := range tc.fail {
				c.fail[k] = v
			}
			clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
			err := tc.op(newSwitch(c, clk, "a"), c)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if c.schedule() != tc.want {
				t.Fatalf("schedule %q, want %q", c.schedule(), tc.want)
			}
		})
	}
}

// TestArmWithoutWriteHoldsDisarm: an arming that only read (a fresh arming
// was there) still keeps every disarm from succeeding before its Job is
// visible: the disarm stops at the hold.
func TestArmWithoutWriteHoldsDisarm(t *testing.T) {
	c := newCluster("0 * * * *")
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	a, b, other := newSwitch(c, clk, "a"), newSwitch(c, clk, "b"), newSwitch(c, clk, "c")
	if err := other.Arm(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(20 * time.Second)
	before := c.rv
	c.at["list#1"] = func() { t.Error("the disarm listed within the hold") }
	// B arms (a read) just before A's disarm reads; B's create comes
	// after A's disarm returned.
	if err := b.Arm(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.rv != before {
		t.Fatal("B wrote although the arming was fresh")
	}
	if idle, err := a.Disarm(context.Background(), c.unreported); err != nil || idle {
		t.Fatalf("disarmed (idle %v, err %v)", idle, err)
	}
	c.jobs++
	if _, err := b.EnsureArmed(context.Background()); err != nil {
		t.Fatal(err)
	}
	delete(c.at, "list#1")
	clk.t = clk.t.Add(time.Minute)
	if idle, err := a.Disarm(context.Background(), c.unreported); err != nil || idle {
		t.Fatalf("disarmed with B's Job unreported (idle %v, err %v)", idle, err)
	}
	if c.schedule() != "* * * * *" {
		t.Fatalf("schedule %q", c.schedule())
	}
}
