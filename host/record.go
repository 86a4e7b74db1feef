package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/aimdb-dev/aimdb-go/host/buffer"
)

// anyRecord is a record with its value type erased. build turns a declaration into a
// live record of db and returns the record's configuration errors; the other methods
// serve the dynamic API.
type anyRecord interface {
	build(db *DB) []error
	core() *recordCore
	stats() buffer.Stats
	getJSON() (json.RawMessage, error)
	setJSON(raw []byte) error
	watchJSON() *JSONWatcher
	closeBuffer()
}

// recordCore is what every record knows regardless of its value type.
type recordCore struct {
	key      string
	typ      reflect.Type
	spec     buffer.Spec
	specSet  bool
	writable bool
	writers  []string // source, transform, join, link_from: at most one is allowed
	inputs   []string // records a transform or join reads
	joined   bool     // inputs feed a join rather than transforms
	// deadLetters marks a record that receives dead letters: shutdown closes it last.
	deadLetters bool
	sources     int
	taps        int
	links       []*link
	errs        []error // configuration errors found while declaring
	onRead      func()  // runs before GetJSON and WatchJSON (OnRead)

	stageErrors atomic.Uint64
}

func (c *recordCore) core() *recordCore { return c }

// record is one typed record: its declaration, and once built, its buffer.
type record[T any] struct {
	recordCore
	buf    buffer.Buffer[T]
	stages []stageSpec
	lnks   []*linkDecl[T]
	db     *DB
}

// Configure declares the record key holding values of type T, or continues configuring
// it, and calls fn to set its buffer, stages and links. Declaring a key again with
// another type is a configuration error.
func Configure[T any](b *Builder, key string, fn func(r *Registrar[T])) {
	typ := reflect.TypeFor[T]()
	d, ok := b.records[key]
	if !ok {
		if err := checkKey(key); err != nil {
			b.errorf(key, "", "%v", err)
			return
		}
		d = &record[T]{recordCore: recordCore{key: key, typ: typ}}
		b.records[key] = d
		b.order = append(b.order, key)
	}
	rec, ok := d.(*record[T])
	if !ok {
		c := d.core()
		c.errs = append(c.errs, &ConfigError{Record: key, Err: fmt.Errorf("declared with type %s, configured again with type %s", c.typ, typ)})
		return
	}
	if fn != nil {
		fn(&Registrar[T]{b: b, rec: rec})
	}
}

// checkKey accepts dot-separated names such as "sensors.temp.indoor".
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("record key is empty")
	}
	for _, seg := range strings.Split(key, ".") {
		if seg == "" {
			return fmt.Errorf("record key %q has an empty segment (want names separated by single dots)", key)
		}
	}
	for _, r := range key {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '"' {
			return fmt.Errorf("record key %q contains %q (spaces, quotes and control characters are not allowed)", key, r)
		}
	}
	return nil
}

// Registrar configures one record of type T inside Configure. Its methods return the
// registrar so calls chain.
type Registrar[T any] struct {
	b   *Builder
	rec *record[T]
}

// Key returns the record's key.
func (r *Registrar[T]) Key() string { return r.rec.key }

// Buffer sets the record's buffer from a spec (as the configuration file gives it).
func (r *Registrar[T]) Buffer(spec buffer.Spec) *Registrar[T] {
	if r.rec.specSet && r.rec.spec != spec {
		r.fail("", "buffer set twice: %s, then %s", r.rec.spec, spec)
		return r
	}
	if err := spec.Validate(); err != nil {
		r.fail("", "%v", err)
		return r
	}
	r.rec.spec, r.rec.specSet = spec, true
	return r
}

// SPMCRing gives the record a ring of capacity values that every consumer reads in full
// (the default, with capacity buffer.DefaultCapacity).
func (r *Registrar[T]) SPMCRing(capacity int) *Registrar[T] {
	return r.Buffer(buffer.Spec{Kind: buffer.KindSPMCRing, Capacity: capacity})
}

// SingleLatest makes the record keep only its newest value.
func (r *Registrar[T]) SingleLatest() *Registrar[T] {
	return r.Buffer(buffer.Spec{Kind: buffer.KindSingleLatest, Capacity: 1})
}

// Mailbox gives the record a one-slot buffer whose values go to exactly one consumer.
func (r *Registrar[T]) Mailbox() *Registrar[T] {
	return r.Buffer(buffer.Spec{Kind: buffer.KindMailbox, Capacity: 1})
}

// Writable lets SetJSON (the CLI and control socket) produce values, as long as the
// record has no other writer.
func (r *Registrar[T]) Writable() *Registrar[T] {
	r.rec.writable = true
	return r
}

// OnRead makes fn run before every GetJSON and WatchJSON of the record, on the
// caller's goroutine: a record whose value is made on demand (the hub's status)
// produces a fresh one there, so a reader never gets a stale value and nobody pays
// for values nobody reads.
func (r *Registrar[T]) OnRead(fn func()) *Registrar[T] {
	r.rec.onRead = fn
	return r
}

// fail records a configuration error of this record.
func (r *Registrar[T]) fail(url, format string, args ...any) {
	r.rec.errs = append(r.rec.errs, &ConfigError{Record: r.rec.key, URL: url, Err: fmt.Errorf(format, args...)})
}

// build creates the buffer and links and hands the stages to db.
func (rec *record[T]) build(db *DB) []error {
	errs := rec.errs
	rec.db = db
	if !rec.specSet {
		rec.spec = buffer.Spec{Kind: buffer.KindSPMCRing, Capacity: buffer.DefaultCapacity}
	}
	buf, err := buffer.New[T](rec.spec)
	if err != nil { // only reachable for a spec that skipped Buffer's checks
		return append(errs, &ConfigError{Record: rec.key, Err: err})
	}
	rec.buf = buf
	db.addRecord(rec)
	seen := map[string]bool{}
	for _, d := range rec.lnks {
		l, err := d.build(rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		id := l.info.Direction.String() + " " + l.info.URL.String()
		if seen[id] {
			errs = append(errs, &ConfigError{Record: rec.key, URL: l.info.URL.String(), Direction: l.info.Direction, Err: fmt.Errorf("%s declared twice", l.info.Direction)})
			continue
		}
		seen[id] = true
		db.addLink(l)
		rec.links = append(rec.links, l)
	}
	db.stageSpecs = append(db.stageSpecs, rec.stages...)
	return errs
}

func (rec *record[T]) stats() buffer.Stats { return rec.buf.Stats() }

func (rec *record[T]) closeBuffer() {
	if rec.buf != nil {
		rec.buf.Close()
	}
}

// lookup finds the record key holding T.
func lookup[T any](db *DB, key string) (*record[T], error) {
	a, ok := db.records[key]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownRecord, key)
	}
	rec, ok := a.(*record[T])
	if !ok {
		return nil, fmt.Errorf("record %q holds %s, not %s: %w", key, a.core().typ, reflect.TypeFor[T](), ErrTypeMismatch)
	}
	return rec, nil
}

// Producer writes values into one record. It is safe for concurrent use.
type Producer[T any] struct {
	rec *record[T]
}

// ProducerOf returns a producer for the record key, which must hold T.
func ProducerOf[T any](db *DB, key string) (*Producer[T], error) {
	rec, err := lookup[T](db, key)
	if err != nil {
		return nil, err
	}
	return &Producer[T]{rec: rec}, nil
}

// Key returns the record's key.
func (p *Producer[T]) Key() string { return p.rec.key }

// Produce stores v in the record and wakes its consumers. It never blocks. It fails
// with ErrClosed once the DB shut down, and with ErrBufferFull when an at-least-once
// link of the record is a whole ring behind: the value was refused, not stored, and
// nothing the link has not delivered was overwritten. Retry later or use ProduceWait.
func (p *Producer[T]) Produce(v T) error { return p.rec.buf.Push(v) }

// ProduceWait is Produce that waits, until ctx ends, while the record's buffer is full.
func (p *Producer[T]) ProduceWait(ctx context.Context, v T) error {
	return pushWait(ctx, p.rec.buf, v)
}

// pushWait pushes v, waiting for room while the buffer refuses with ErrFull.
func pushWait[T any](ctx context.Context, buf buffer.Buffer[T], v T) error {
	for {
		room := buf.Room()
		err := buf.Push(v)
		if !errors.Is(err, buffer.ErrFull) {
			return err
		}
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", err, ctx.Err())
		}
	}
}

// Consumer reads values of one record in the order its buffer gives them. Recv and
// TryRecv belong to one goroutine; Close it when done, from any goroutine.
type Consumer[T any] struct {
	rec *record[T]
	rd  buffer.Reader[T]
}

// ConsumerOf subscribes to the record key, which must hold T. What the consumer sees
// first depends on the buffer: only later values (SPMC ring), the current value
// (single-latest), or the waiting value (mailbox).
func ConsumerOf[T any](db *DB, key string) (*Consumer[T], error) {
	rec, err := lookup[T](db, key)
	if err != nil {
		return nil, err
	}
	return &Consumer[T]{rec: rec, rd: rec.buf.Subscribe()}, nil
}

// Key returns the record's key.
func (c *Consumer[T]) Key() string { return c.rec.key }

// Recv waits for the next value. It returns a *LagError when values were missed
// (the next Recv continues), ErrClosed once the DB shut down, or ctx's error.
func (c *Consumer[T]) Recv(ctx context.Context) (T, error) { return c.rd.Recv(ctx) }

// TryRecv is Recv without waiting; it returns ErrEmpty when nothing is there.
func (c *Consumer[T]) TryRecv() (T, error) { return c.rd.TryRecv() }

// Close detaches the consumer from the record; a Recv waiting elsewhere returns ErrClosed.
func (c *Consumer[T]) Close() { c.rd.Close() }

// Get returns the newest value of the record key, which must hold T; ok is false when
// nothing was produced yet. It does not consume anything.
func Get[T any](db *DB, key string) (v T, ok bool, err error) {
	rec, err := lookup[T](db, key)
	if err != nil {
		return v, false, err
	}
	v, ok = rec.buf.Peek()
	return v, ok, nil
}
