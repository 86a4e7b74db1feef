package host

import (
	"context"
	"encoding/json"
	"fmt"
)

// GetJSON returns the newest value of any record as JSON, without consuming it.
// It fails with ErrUnknownRecord or ErrNoValue.
func (db *DB) GetJSON(key string) (json.RawMessage, error) {
	r, ok := db.records[key]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownRecord, key)
	}
	if fn := r.core().onRead; fn != nil {
		fn()
	}
	return r.getJSON()
}

// SetJSON decodes raw into the record's type and produces it. It fails with ErrDenied
// unless the record is Writable and has no other writer (source, transform, join,
// inbound link), with ErrInvalidValue when raw does not decode, and with ErrClosed
// after shutdown.
func (db *DB) SetJSON(key string, raw []byte) error {
	r, ok := db.records[key]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownRecord, key)
	}
	c := r.core()
	switch {
	case !c.writable:
		return fmt.Errorf("record %q is not writable: %w", key, ErrDenied)
	case len(c.writers) > 0:
		return fmt.Errorf("record %q is written by its %s: %w", key, c.writers[0], ErrDenied)
	}
	return r.setJSON(raw)
}

// WatchJSON subscribes to any record and yields its values as JSON.
func (db *DB) WatchJSON(key string) (*JSONWatcher, error) {
	r, ok := db.records[key]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownRecord, key)
	}
	if fn := r.core().onRead; fn != nil {
		fn()
	}
	return r.watchJSON(), nil
}

// JSONWatcher yields one record's values as JSON. Next, TryNext and Notify belong to
// one goroutine; Close may be called from any.
type JSONWatcher struct {
	next    func(ctx context.Context) (json.RawMessage, error)
	tryNext func() (json.RawMessage, error)
	notify  func(wake func()) bool
	close   func()
}

// Next waits for the next value. It returns a *LagError when values were missed (call
// Next again), ErrClosed after shutdown, or ctx's error.
func (w *JSONWatcher) Next(ctx context.Context) (json.RawMessage, error) { return w.next(ctx) }

// TryNext is Next without waiting: it returns ErrEmpty when no value is there.
func (w *JSONWatcher) TryNext() (json.RawMessage, error) { return w.tryNext() }

// Notify lets one goroutine follow many records: it arranges for wake to be called
// once, on the producer's goroutine, when a value may be ready, and reports true; it
// reports false when TryNext has something to return now. wake must not block. Use
// Next or Notify on a watcher, not both.
func (w *JSONWatcher) Notify(wake func()) bool { return w.notify(wake) }

// Close detaches the watcher; a Next waiting elsewhere returns ErrClosed.
func (w *JSONWatcher) Close() { w.close() }

func (rec *record[T]) getJSON() (json.RawMessage, error) {
	v, ok := rec.buf.Peek()
	if !ok {
		return nil, fmt.Errorf("record %q: %w", rec.key, ErrNoValue)
	}
	return marshalJSON(rec.key, v)
}

func (rec *record[T]) setJSON(raw []byte) error {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("record %q wants %s: %w: %v", rec.key, rec.typ, ErrInvalidValue, err)
	}
	if err := rec.buf.Push(v); err != nil {
		return fmt.Errorf("record %q: %w", rec.key, err)
	}
	return nil
}

func (rec *record[T]) watchJSON() *JSONWatcher {
	rd := rec.buf.Subscribe()
	// encode turns a received value into JSON; ok is false for a value that does not
	// encode, which is logged and skipped.
	encode := func(v T) (p json.RawMessage, ok bool) {
		p, err := marshalJSON(rec.key, v)
		if err != nil {
			rec.db.log.Warn("value did not encode as JSON; skipped", "record", rec.key, "error", err)
			return nil, false
		}
		return p, true
	}
	return &JSONWatcher{
		next: func(ctx context.Context) (json.RawMessage, error) {
			for {
				v, err := rd.Recv(ctx)
				if err != nil {
					return nil, err
				}
				if p, ok := encode(v); ok {
					return p, nil
				}
			}
		},
		tryNext: func() (json.RawMessage, error) {
			for {
				v, err := rd.TryRecv()
				if err != nil {
					return nil, err
				}
				if p, ok := encode(v); ok {
					return p, nil
				}
			}
		},
		notify: rd.Notify,
		close:  rd.Close,
	}
}

// marshalJSON encodes v, passing json.RawMessage records through as they are.
func marshalJSON[T any](key string, v T) (json.RawMessage, error) {
	if raw, ok := any(v).(json.RawMessage); ok && json.Valid(raw) {
		return append(json.RawMessage(nil), raw...), nil
	}
	p, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("record %q: value does not encode as JSON: %w", key, err)
	}
	return p, nil
}
