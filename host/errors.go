package host

import (
	"errors"
	"strconv"
	"strings"

	"github.com/aimdb-dev/aimdb-go/host/buffer"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// ConfigError is one configuration mistake found by Build. Build joins all of them with
// errors.Join, so callers can list every mistake at once (errors.As finds the first).
// Its fields say where the mistake is, as data: a configuration file maps them to a
// file:line:col (config.Locate) without reading the message.
type ConfigError struct {
	// Record is the key of the record concerned; empty for builder-wide errors.
	Record string
	// URL is the link URL concerned, password masked; empty when no link is involved.
	URL string
	// Direction is the direction of the link concerned; 0 when not known.
	Direction sdk.Direction
	// Instance is the connector instance concerned, when the mistake is in its own
	// configuration rather than in a record's link.
	Instance string
	// Option is the option concerned, of the link when URL is set, else of the
	// instance: "url" and "plugin" are the instance's url and plugin. "" means the
	// link, instance or record as a whole.
	Option string
	// Err says what is wrong.
	Err error
}

// Error prints `record "a": link "mqtt://x": what is wrong`, or
// `connector instance "mqtt": what is wrong`.
func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.Instance != "" && e.Record == "" {
		b.WriteString("connector instance " + strconv.Quote(e.Instance) + ": ")
	}
	if e.Record != "" {
		b.WriteString("record " + strconv.Quote(e.Record) + ": ")
	}
	if e.URL != "" {
		b.WriteString("link " + strconv.Quote(e.URL) + ": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// Errors from the DB's dynamic and typed access functions.
var (
	// ErrUnknownRecord: no record has the key.
	ErrUnknownRecord = errors.New("unknown record")
	// ErrTypeMismatch: the record holds another Go type than asked for.
	ErrTypeMismatch = errors.New("record type mismatch")
	// ErrDenied: the record may not be written from outside (SetJSON) because it is not
	// Writable or another writer (source, transform, inbound link) owns it.
	ErrDenied = errors.New("write denied")
	// ErrNoValue: the record has not been produced yet.
	ErrNoValue = errors.New("no value yet")
	// ErrUnknownLink: no link has the id, or it points the other way.
	ErrUnknownLink = errors.New("unknown link")
	// ErrInvalidValue: a JSON or link payload did not decode into the record's type.
	ErrInvalidValue = errors.New("invalid value")
	// ErrNotRunning: Run was called twice or after Close.
	ErrNotRunning = errors.New("database closed or already running")
)

// Buffer errors, re-exported so users of host need not import host/buffer.
var (
	// ErrEmpty: TryRecv found nothing to read.
	ErrEmpty = buffer.ErrEmpty
	// ErrClosed: the record's buffer is closed (the DB shut down) and drained.
	ErrClosed = buffer.ErrClosed
	// ErrBufferFull: the record refused a value because an at-least-once link has not
	// delivered the value it would overwrite (back-pressure); try again later.
	ErrBufferFull = buffer.ErrFull
)

// LagError reports that a consumer of an SPMC ring missed Missed values; the consumer
// continues from the oldest value still held.
type LagError = buffer.LagError
