package host

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// stageSpec is a declared stage. bind runs at Build once every record exists: it checks
// the stage's inputs and returns the function Run calls to subscribe and get the loop.
type stageSpec struct {
	name   string // "source", "tap #2", "transform from a", "join of a, b"
	record string // the record the stage belongs to
	bind   func(db *DB) (stageStart, error)
}

// stageStart subscribes the stage's consumers; Run calls every stageStart before it
// starts any loop, so no stage misses values another produces at start-up.
type stageStart func() stageLoop

// stageLoop is a stage's goroutine body.
type stageLoop func(ctx context.Context) error

// Source gives the record an autonomous producer: fn runs in its own goroutine from Run
// until ctx is cancelled, producing through p. A source is the record's writer. An
// error other than ctx's is logged and counted in the record's stage errors.
func (r *Registrar[T]) Source(fn func(ctx context.Context, p *Producer[T]) error) *Registrar[T] {
	rec := r.rec
	if fn == nil {
		r.fail("", "source function is nil")
		return r
	}
	rec.sources++
	rec.writers = append(rec.writers, "source")
	rec.stages = append(rec.stages, stageSpec{name: "source", record: rec.key, bind: func(*DB) (stageStart, error) {
		return func() stageLoop {
			return func(ctx context.Context) error { return fn(ctx, &Producer[T]{rec: rec}) }
		}, nil
	}})
	return r
}

// Tap observes the record: fn is called in its own goroutine with every value the
// record's buffer hands a consumer, until Run ends. Lag (SPMC ring) is counted and
// skipped. Taps do not write.
func (r *Registrar[T]) Tap(fn func(ctx context.Context, v T)) *Registrar[T] {
	rec := r.rec
	if fn == nil {
		r.fail("", "tap function is nil")
		return r
	}
	rec.taps++
	name := fmt.Sprintf("tap #%d", rec.taps)
	rec.stages = append(rec.stages, stageSpec{name: name, record: rec.key, bind: func(*DB) (stageStart, error) {
		return func() stageLoop {
			c := &Consumer[T]{rec: rec, rd: rec.buf.Subscribe()}
			return consumeLoop(c, fn)
		}, nil
	}})
	return r
}

// consumeLoop feeds every value of c to fn until ctx ends or the buffer closes.
func consumeLoop[T any](c *Consumer[T], fn func(ctx context.Context, v T)) stageLoop {
	return func(ctx context.Context) error {
		defer c.Close()
		for {
			v, err := c.Recv(ctx)
			if err != nil {
				var lag *LagError
				if errors.As(err, &lag) {
					continue
				}
				if errors.Is(err, ErrClosed) || ctx.Err() != nil {
					return nil
				}
				return err
			}
			fn(ctx, v)
		}
	}
}

// Transform makes the record r the output of fn applied to every value of the record
// input (of type A). fn returns ok=false to produce nothing for a value. fn runs in one
// goroutine, so state it keeps in its closure needs no locking. The transform is the
// record's writer; input must exist and hold A.
func Transform[A, B any](r *Registrar[B], input string, fn func(a A) (b B, ok bool)) {
	out := r.rec
	if fn == nil {
		r.fail("", "transform from %q: function is nil", input)
		return
	}
	out.writers = append(out.writers, "transform from "+input)
	out.inputs = append(out.inputs, input)
	out.stages = append(out.stages, stageSpec{name: "transform from " + input, record: out.key, bind: func(db *DB) (stageStart, error) {
		in, err := bindInput[A](db, input)
		if err != nil {
			return nil, err
		}
		return func() stageLoop {
			c := &Consumer[A]{rec: in, rd: in.buf.Subscribe()}
			return consumeLoop(c, func(ctx context.Context, a A) {
				if b, ok := fn(a); ok {
					_ = pushWait(ctx, out.buf, b) // fails only at shutdown, when the loop ends anyway
				}
			})
		}, nil
	}})
}

// TransformWithState is Transform with explicit state: fn gets a pointer to a state
// that starts as init and lives as long as the DB runs.
func TransformWithState[A, B, S any](r *Registrar[B], input string, init S, fn func(state *S, a A) (b B, ok bool)) {
	if fn == nil {
		Transform[A](r, input, nil)
		return
	}
	state := init
	Transform(r, input, func(a A) (B, bool) { return fn(&state, a) })
}

// bindInput finds the transform input key holding A.
func bindInput[A any](db *DB, key string) (*record[A], error) {
	a, ok := db.records[key]
	if !ok {
		return nil, fmt.Errorf("input record %q is not declared", key)
	}
	in, ok := a.(*record[A])
	if !ok {
		return nil, fmt.Errorf("input record %q holds %s, but the function takes %s", key, a.core().typ, reflect.TypeFor[A]())
	}
	return in, nil
}

// JoinInput is one input of TransformJoin; make it with In.
type JoinInput struct {
	key  string
	bind func(db *DB, index int, emit func(context.Context, JoinEvent)) (stageStart, error)
}

// In names the record key, holding T, as a join input.
func In[T any](key string) JoinInput {
	return JoinInput{key: key, bind: func(db *DB, index int, emit func(context.Context, JoinEvent)) (stageStart, error) {
		in, err := bindInput[T](db, key)
		if err != nil {
			return nil, err
		}
		return func() stageLoop {
			c := &Consumer[T]{rec: in, rd: in.buf.Subscribe()}
			return consumeLoop(c, func(ctx context.Context, v T) { emit(ctx, JoinEvent{Index: index, Key: key, Value: v}) })
		}, nil
	}}
}

// JoinEvent is one value arriving on a join input.
type JoinEvent struct {
	// Index is the input's position in the inputs given to TransformJoin.
	Index int
	// Key is the input record's key.
	Key string
	// Value is the value, of the input's type.
	Value any
}

// TransformJoin makes the record r the output of fn over several inputs: fn is called
// with every value of every input, one call at a time (so state in its closure needs no
// locking), and returns ok=false to produce nothing. The join is the record's writer.
func TransformJoin[B any](r *Registrar[B], inputs []JoinInput, fn func(ev JoinEvent) (b B, ok bool)) {
	out := r.rec
	keys := make([]string, len(inputs))
	for i, in := range inputs {
		keys[i] = in.key
	}
	switch {
	case fn == nil:
		r.fail("", "join function is nil")
		return
	case len(inputs) == 0:
		r.fail("", "join has no inputs")
		return
	}
	for i, in := range inputs {
		if in.bind == nil {
			r.fail("", "join input %d was not made with In", i)
			return
		}
	}
	name := "join of " + strings.Join(keys, ", ")
	out.writers = append(out.writers, name)
	out.inputs = append(out.inputs, keys...)
	out.joined = true
	var mu sync.Mutex // one call of fn at a time, whichever input it comes from
	emit := func(ctx context.Context, ev JoinEvent) {
		mu.Lock()
		defer mu.Unlock()
		if b, ok := fn(ev); ok {
			_ = pushWait(ctx, out.buf, b)
		}
	}
	// Each input runs as its own stage, so a failure is reported as it happens.
	for i, in := range inputs {
		out.stages = append(out.stages, stageSpec{name: name, record: out.key, bind: func(db *DB) (stageStart, error) {
			return in.bind(db, i, emit)
		}})
	}
}

// bindStages binds every declared stage; errors name the record and stage.
func (db *DB) bindStages() []error {
	var errs []error
	for _, s := range db.stageSpecs {
		start, err := s.bind(db)
		if err != nil {
			errs = append(errs, &ConfigError{Record: s.record, Err: fmt.Errorf("%s: %w", s.name, err)})
			continue
		}
		db.stages = append(db.stages, boundStage{spec: s, start: start})
	}
	return errs
}

// checkWriters enforces one writer per record.
func checkWriters(db *DB) []error {
	var errs []error
	for _, key := range db.order {
		c := db.records[key].core()
		if len(c.writers) > 1 {
			errs = append(errs, &ConfigError{Record: key, Err: fmt.Errorf("has %d writers (%s); a record has at most one source, transform, join or link_from", len(c.writers), strings.Join(c.writers, "; "))})
		}
	}
	return errs
}

type boundStage struct {
	spec  stageSpec
	start stageStart
}
