package config

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
		MaxBytes:           pick(l.MaxBytes, d.MaxBytes),
		MaxActions:         pick(l.MaxActions, d.MaxActions),
		MaxEventsPerAction: pick(l.MaxEventsPerAction, d.MaxEventsPerAction),
		MaxTasksPerAction:  pick(l.MaxTasksPerAction, d.MaxTasksPerAction),
		MaxEnvPerTask:      pick(l.MaxEnvPerTask, d.MaxEnvPerTask),
		MaxFilesPerTask:    pick(l.MaxFilesPerTask, d.MaxFilesPerTask),
		MaxNodes:           pick(l.MaxNodes, d.MaxNodes),
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
