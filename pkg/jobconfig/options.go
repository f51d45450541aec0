package jobconfig

// Limits bound what one config may ask for, so that a config author cannot
// make the function spend unbounded memory or create unbounded pods. A zero
// field means the default.
type Limits struct {
	// MaxBytes is the largest config file accepted.
	MaxBytes int
	// MaxActions bounds actions[].
	MaxActions int
	// MaxEventsPerAction bounds actions[].events[]: each is a regular
	// expression compiled at parse time and run against every event.
	MaxEventsPerAction int
	// MaxTasksPerAction bounds actions[].tasks[].
	MaxTasksPerAction int
	// MaxEnvPerTask bounds a task's env[].
	MaxEnvPerTask int
	// MaxFilesPerTask bounds a task's files[].
	MaxFilesPerTask int
	// MaxNodes bounds the YAML nodes visited, counting every expansion of an
	// alias: a few bytes of anchors can otherwise expand to billions of nodes.
	MaxNodes int
	// MaxExpandedBytes bounds the bytes of the scalars visited, counting
	// every expansion of an alias: one large anchored value aliased a few
	// thousand times is a small file but gigabytes of Job. Default: four
	// times MaxBytes.
	MaxExpandedBytes int
	// MaxRegexpInsts bounds the program one event name compiles to, and
	// MaxRegexpInstsTotal the programs of all of them: a bounded repetition
	// ({1,999}) is copied that many times, so a few hundred bytes of
	// pattern can hold megabytes of program.
	MaxRegexpInsts      int
	MaxRegexpInstsTotal int
	// MaxCost bounds what a parsed config costs to hold and use (Config.Cost):
	// expanded values, expanded YAML nodes and regular-expression programs,
	// in bytes.
	MaxCost int
}

// DefaultLimits are generous for any real config and small enough to parse in
// well under a second.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:           256 << 10,
		MaxActions:         64,
		MaxEventsPerAction: 32,
		MaxTasksPerAction:  32,
		MaxEnvPerTask:      128,
		MaxFilesPerTask:    256,
		MaxNodes:           1 << 20,
		// MaxExpandedBytes is derived from MaxBytes in withDefaults.
		MaxRegexpInsts:      2048,
		MaxRegexpInstsTotal: 32768,
		MaxCost:             4 << 20,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	return Limits{
		MaxBytes:            pick(l.MaxBytes, d.MaxBytes),
		MaxActions:          pick(l.MaxActions, d.MaxActions),
		MaxEventsPerAction:  pick(l.MaxEventsPerAction, d.MaxEventsPerAction),
		MaxTasksPerAction:   pick(l.MaxTasksPerAction, d.MaxTasksPerAction),
		MaxEnvPerTask:       pick(l.MaxEnvPerTask, d.MaxEnvPerTask),
		MaxFilesPerTask:     pick(l.MaxFilesPerTask, d.MaxFilesPerTask),
		MaxNodes:            pick(l.MaxNodes, d.MaxNodes),
		MaxExpandedBytes:    pick(l.MaxExpandedBytes, 4*pick(l.MaxBytes, d.MaxBytes)),
		MaxRegexpInsts:      pick(l.MaxRegexpInsts, d.MaxRegexpInsts),
		MaxRegexpInstsTotal: pick(l.MaxRegexpInstsTotal, d.MaxRegexpInstsTotal),
		MaxCost:             pick(l.MaxCost, d.MaxCost),
	}
}

// Option changes how Parse works.
type Option func(*options)

type options struct {
	limits Limits
}

// WithLimits replaces DefaultLimits; zero fields keep their default.
func WithLimits(l Limits) Option {
	return func(o *options) { o.limits = l }
}
