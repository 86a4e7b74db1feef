package mqtt

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// slogToHclog hands the embedded broker's slog records to the instance's hclog
// logger, at their own level; records below min are dropped.
type slogToHclog struct {
	log   hclog.Logger
	min   slog.Level
	attrs []any
}

// Enabled reports whether records of level are logged.
func (h *slogToHclog) Enabled(_ context.Context, level slog.Level) bool { return level >= h.min }

// Handle logs one record.
func (h *slogToHclog) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.Any())
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		h.log.Error(r.Message, args...)
	case r.Level >= slog.LevelWarn:
		h.log.Warn(r.Message, args...)
	case r.Level >= slog.LevelInfo:
		h.log.Info(r.Message, args...)
	default:
		h.log.Debug(r.Message, args...)
	}
	return nil
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *slogToHclog) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &slogToHclog{log: h.log, min: h.min, attrs: append([]any(nil), h.attrs...)}
	for _, a := range attrs {
		n.attrs = append(n.attrs, a.Key, a.Value.Any())
	}
	return n
}

// WithGroup returns the handler unchanged: attributes are logged without group prefixes.
func (h *slogToHclog) WithGroup(string) slog.Handler { return h }
