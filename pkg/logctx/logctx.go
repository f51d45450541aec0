// Package logctx carries log attributes in a context, so every line logged
// while handling one event names that event (its Keptn context, its id, the
// Job) without threading a logger through every call.
package logctx

import (
	"context"
	"log/slog"
)

type key struct{}

// With returns ctx carrying args (slog key-value pairs or slog.Attr values)
// in addition to those ctx already carries. A key given again replaces the
// earlier value, so a line never names two Jobs.
func With(ctx context.Context, args ...any) context.Context {
	add := argsToAttrs(args)
	if len(add) == 0 {
		return ctx
	}
	prev := Attrs(ctx)
	out := make([]slog.Attr, 0, len(prev)+len(add))
	for _, a := range prev {
		if !hasKey(add, a.Key) {
			out = append(out, a)
		}
	}
	out = append(out, add...)
	return context.WithValue(ctx, key{}, out)
}

// Attrs returns the attributes ctx carries, oldest first. The slice must
// not be modified.
func Attrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Value(key{}).([]slog.Attr)
	return a
}

func hasKey(attrs []slog.Attr, k string) bool {
	for _, a := range attrs {
		if a.Key == k {
			return true
		}
	}
	return false
}

// argsToAttrs turns slog-style arguments into attributes the way
// slog.Logger.With does; a key without a value gets slog's "!BADKEY".
func argsToAttrs(args []any) []slog.Attr {
	var r slog.Record
	r.Add(args...)
	out := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		// Later duplicates in one call win, as in With across calls.
		for i := range out {
			if out[i].Key == a.Key {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
		out = append(out, a)
		return true
	})
	return out
}

// Handler adds the context's attributes to every record. Use the
// *Context logging methods (InfoContext, ...) for them to appear.
type Handler struct {
	slog.Handler
}

// NewHandler wraps h.
func NewHandler(h slog.Handler) *Handler { return &Handler{Handler: h} }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := Attrs(ctx); len(attrs) > 0 {
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{Handler: h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler. The context's attributes of later
// records go into the group too.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{Handler: h.Handler.WithGroup(name)}
}
