package sdk

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// RedactLogger returns a logger that passes every message, argument and name
// through r before l writes it: strings, errors and anything printed with %v. Loggers
// made from it (With, Named) redact too. The SDK hands connectors such a logger in
// BuildContext.Logger.
func RedactLogger(l hclog.Logger, r *Redactor) hclog.Logger {
	return &redactLogger{Logger: l, r: r}
}

type redactLogger struct {
	hclog.Logger
	r *Redactor
}

func (l *redactLogger) args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = l.r.String(v)
		case error:
			out[i] = l.r.String(v.Error())
		case fmt.Stringer:
			out[i] = l.r.String(v.String())
		case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
			out[i] = v
		case []byte:
			out[i] = l.r.String(string(v))
		default:
			out[i] = l.r.String(fmt.Sprintf("%+v", v))
		}
	}
	return out
}

// on reports whether the wrapped logger writes level, so a line it would drop costs
// no redaction.
func (l *redactLogger) on(level hclog.Level) bool {
	cur := l.Logger.GetLevel()
	return cur != hclog.Off && level >= cur
}

func (l *redactLogger) Log(level hclog.Level, msg string, args ...any) {
	if l.on(level) {
		l.Logger.Log(level, l.r.String(msg), l.args(args)...)
	}
}

func (l *redactLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *redactLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *redactLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *redactLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *redactLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *redactLogger) With(args ...any) hclog.Logger {
	return &redactLogger{Logger: l.Logger.With(l.args(args)...), r: l.r}
}
func (l *redactLogger) Named(name string) hclog.Logger {
	return &redactLogger{Logger: l.Logger.Named(l.r.String(name)), r: l.r}
}
func (l *redactLogger) ResetNamed(name string) hclog.Logger {
	return &redactLogger{Logger: l.Logger.ResetNamed(l.r.String(name)), r: l.r}
}

// StandardWriter redacts each line before the wrapped logger's writer sees it.
func (l *redactLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return RedactWriter(l.Logger.StandardWriter(opts), l.r)
}

// StandardLogger is a log.Logger over StandardWriter.
func (l *redactLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// RedactWriter returns a writer that masks secrets (r) in each line before w gets
// it. It keeps an unfinished line until its newline comes, so a secret split across
// two writes is still found; a line is never longer than 64 KiB before it is passed on.
func RedactWriter(w io.Writer, r *Redactor) io.Writer {
	return &redactWriter{w: w, r: r}
}

type redactWriter struct {
	mu      sync.Mutex
	w       io.Writer
	r       *Redactor
	pending []byte
}

// maxPendingLine bounds how much of an unfinished line the writer holds back.
const maxPendingLine = 64 << 10

func (rw *redactWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.pending = append(rw.pending, p...)
	end := bytes.LastIndexByte(rw.pending, '\n') + 1
	if end == 0 && len(rw.pending) > maxPendingLine {
		end = len(rw.pending)
	}
	if end > 0 {
		out := rw.r.String(string(rw.pending[:end]))
		rw.pending = append(rw.pending[:0], rw.pending[end:]...)
		if _, err := io.WriteString(rw.w, out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
