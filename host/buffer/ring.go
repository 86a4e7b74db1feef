package buffer

import (
	"context"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
)

// Ring is the SPMC ring buffer: every reader sees every value in order; the producer
// never waits and overwrites the oldest value; a reader that falls more than Capacity
// values behind gets a *LagError with the count it missed and continues from the
// oldest value still held. A new reader sees only values pushed after it subscribed.
//
// A holding reader (SubscribeHolding) changes the overwrite rule: the ring refuses a
// Push with ErrFull rather than overwrite a value that reader has not released, so an
// at-least-once link never loses a value to a fast producer. The producer keeps a
// cached lower bound of the holders' positions and reads them only when the bound
// says the ring may be full, so holding costs nothing while there is room.
//
// Positions are sequence numbers; slot i%Capacity holds position i and records which
// position it holds, so a reader detects an overwritten slot without reading the
// producer's tail on every value. Producer and readers keep their slot index as a
// running counter, so no division is needed for capacities that are not powers of two.
type Ring[T any] struct {
	// Read by every reader on every value: kept off the producer's cache line.
	slots    []ringSlot[T]
	capacity uint64
	ws       waitSet
	readers  sync.Map // *ringReader[T] -> struct{}, for Stats
	retired  retiredCounts
	hmu      sync.Mutex                       // guards changes to holders
	holders  atomic.Pointer[[]*ringReader[T]] // copy-on-write list of holding readers
	room     roomSignal
	refused  atomic.Uint64
	_        cacheLinePad

	// Written by the producer on every Push.
	pmu     spinLock      // serialises producers (a record has one writer, but Push stays safe)
	widx    uint64        // slot the next Push writes; guarded by pmu
	minHeld uint64        // no holder holds a position below this; guarded by pmu
	swept   uint64        // values below this position no reader needs are let go; guarded by pmu
	sweepAt uint64        // the tail at which Push sweeps next; guarded by pmu
	tail    atomic.Uint64 // next position to write; values [tail-capacity, tail) are live
	_       cacheLinePad
}

type ringSlot[T any] struct {
	mu  spinLock
	pos uint64 // position+1 of the value held, 0 when never written
	val T
}

// retiredCounts keeps the counters of closed readers so Stats stays cumulative.
type retiredCounts struct {
	consumed, dropped, lagged atomic.Uint64
}

// NewRing makes a ring holding capacity values; capacity must be at least 1.
func NewRing[T any](capacity int) *Ring[T] {
	if capacity < 1 {
		panic("buffer: ring capacity must be at least 1")
	}
	r := &Ring[T]{slots: make([]ringSlot[T], capacity), capacity: uint64(capacity)}
	if !holdsPointers(reflect.TypeFor[T]()) {
		r.sweepAt = math.MaxUint64 // nothing to let go of: the slots are all the memory
	}
	r.ws.init()
	return r
}

// Push appends v, overwriting the oldest value when the ring is full, or refusing
// with ErrFull when a holding reader still needs that value.
func (r *Ring[T]) Push(v T) error {
	r.pmu.lock()
	if r.ws.closed.Load() {
		r.pmu.unlock()
		return ErrClosed
	}
	pos := r.tail.Load()
	if pos-r.minHeld >= r.capacity {
		if hs := r.holders.Load(); hs != nil && len(*hs) > 0 {
			r.minHeld = minHold(*hs, pos)
			if pos-r.minHeld >= r.capacity {
				r.pmu.unlock()
				r.refused.Add(1)
				return ErrFull
			}
		} else {
			r.minHeld = pos // no holders: nothing below the tail is held
		}
	}
	s := &r.slots[r.widx]
	if r.widx++; r.widx == r.capacity {
		r.widx = 0
	}
	s.mu.lock()
	s.val = v
	s.pos = pos + 1
	s.mu.unlock()
	r.tail.Store(pos + 1)
	if pos+1 >= r.sweepAt {
		r.sweep(pos + 1)
	}
	r.pmu.unlock()
	r.ws.wake(-1)
	budget(pos + 1)
	return nil
}

// sweep lets go of the values below tail that every reader has read (a holding
// reader: released), but the newest (Peek's), so that a ring whose readers keep up
// holds on to the memory of what they still need, not of its whole capacity. Push
// calls it, with pmu held, every eighth of the capacity, for values that hold
// pointers (a payload, a string); a pointer-free value has nothing to let go of.
func (r *Ring[T]) sweep(tail uint64) {
	r.sweepAt = tail + max(r.capacity/8, 1)
	upTo := tail - 1
	r.readers.Range(func(k, _ any) bool {
		rd := k.(*ringReader[T])
		if rd.holding {
			upTo = min(upTo, rd.held.Load())
		} else {
			upTo = min(upTo, rd.published.Load())
		}
		return true
	})
	var zero T
	p := max(r.swept, tail-min(tail, r.capacity))
	for i := p % r.capacity; p < upTo; p++ {
		s := &r.slots[i]
		s.mu.lock()
		if s.pos == p+1 {
			s.val = zero
		}
		s.mu.unlock()
		if i++; i == r.capacity {
			i = 0
		}
	}
	r.swept = max(r.swept, upTo)
}

// holdsPointers reports whether values of type t refer to other memory.
func holdsPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && holdsPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Slice, reflect.String,
		reflect.Interface, reflect.Chan, reflect.Func:
		return true
	}
	return false
}

// Peek returns the newest value.
func (r *Ring[T]) Peek() (T, bool) {
	for {
		tail := r.tail.Load()
		if tail == 0 {
			var zero T
			return zero, false
		}
		s := &r.slots[(tail-1)%r.capacity]
		s.mu.lock()
		v, pos := s.val, s.pos
		s.mu.unlock()
		if pos == tail {
			return v, true
		}
		// The producer lapped the slot between the two loads; read the new tail.
	}
}

// Subscribe returns a reader that starts at the next value pushed.
func (r *Ring[T]) Subscribe() Reader[T] { return r.subscribe(false) }

// SubscribeHolding returns a reader that starts at the next value pushed and holds
// its place: values it has not released are never overwritten.
func (r *Ring[T]) SubscribeHolding() (Reader[T], bool) { return r.subscribe(true), true }

func (r *Ring[T]) subscribe(hold bool) *ringReader[T] {
	rd := &ringReader[T]{r: r, w: newWaiter(), holding: hold}
	if hold {
		r.hmu.Lock()
		defer r.hmu.Unlock()
	}
	r.pmu.lock() // a consistent start position against concurrent Push, and seen by its sweeps
	rd.pos, rd.idx = r.tail.Load(), r.widx
	rd.start, rd.known = rd.pos, rd.pos
	rd.published.Store(rd.pos)
	r.readers.Store(rd, struct{}{})
	if hold {
		rd.held.Store(rd.pos)
		r.minHeld = min(r.minHeld, rd.pos)
		next := []*ringReader[T]{rd}
		if old := r.holders.Load(); old != nil {
			next = append(next, *old...)
		}
		r.holders.Store(&next)
	}
	r.pmu.unlock()
	r.ws.add(rd.w)
	return rd
}

// minHold returns the lowest position a holder holds, at most tail.
func minHold[T any](hs []*ringReader[T], tail uint64) uint64 {
	m := tail
	for _, h := range hs {
		m = min(m, h.held.Load())
	}
	return m
}

// unhold removes a closed holding reader, which may make room for producers.
func (r *Ring[T]) unhold(rd *ringReader[T]) {
	r.hmu.Lock()
	if old := r.holders.Load(); old != nil {
		next := make([]*ringReader[T], 0, len(*old))
		for _, h := range *old {
			if h != rd {
				next = append(next, h)
			}
		}
		r.holders.Store(&next)
	}
	r.hmu.Unlock()
	r.room.signal()
}

// Room returns a channel closed when a holding reader releases values or the ring closes.
func (r *Ring[T]) Room() <-chan struct{} {
	if r.ws.closed.Load() {
		return closedChan
	}
	return r.room.wait()
}

// Close closes the ring; readers drain what they have not read, then get ErrClosed.
func (r *Ring[T]) Close() {
	r.pmu.lock() // no Push is half done once readers see the ring closed
	r.ws.close()
	r.pmu.unlock()
	r.room.signal()
}

// Spec returns the ring's kind and capacity.
func (r *Ring[T]) Spec() Spec { return Spec{Kind: KindSPMCRing, Capacity: int(r.capacity)} }

// Stats sums the ring's counters over all readers.
func (r *Ring[T]) Stats() Stats {
	tail := r.tail.Load()
	st := Stats{
		Produced: tail,
		Refused:  r.refused.Load(),
		Consumed: r.retired.consumed.Load(),
		Dropped:  r.retired.dropped.Load(),
		Lagged:   r.retired.lagged.Load(),
		Capacity: int(r.capacity),
	}
	r.readers.Range(func(k, _ any) bool {
		rd := k.(*ringReader[T])
		pos, missed := rd.published.Load(), rd.missed.Load()
		st.Consumed += pos - rd.start - missed
		st.Dropped += missed
		st.Lagged += rd.lags.Load()
		if behind := int(min(tail-min(pos, tail), r.capacity)); behind > st.Occupancy {
			st.Occupancy = behind
		}
		st.Readers++
		return true
	})
	return st
}

type ringReader[T any] struct {
	r      *Ring[T]
	w      *waiter
	pos    uint64 // next position to read; owned by the reader goroutine
	idx    uint64 // pos % capacity
	known  uint64 // a tail seen earlier: positions below it were written
	start  uint64
	closed atomic.Bool // set by Close, from any goroutine

	holding bool
	held    atomic.Uint64 // oldest position not released (holding readers)

	published atomic.Uint64 // pos, for Stats
	missed    atomic.Uint64
	lags      atomic.Uint64
}

// TryRecv returns the next value, ErrEmpty, *LagError or ErrClosed.
func (rd *ringReader[T]) TryRecv() (T, error) {
	var zero T
	if rd.closed.Load() {
		return zero, ErrClosed
	}
	r := rd.r
	for {
		if rd.pos >= rd.known { // caught up with what we knew: ask the producer
			rd.known = r.tail.Load()
			if rd.pos >= rd.known {
				if r.ws.closed.Load() && rd.pos >= r.tail.Load() {
					return zero, ErrClosed
				}
				return zero, ErrEmpty
			}
		}
		if rd.known-rd.pos > r.capacity {
			return zero, rd.lag(rd.known - r.capacity)
		}
		s := &r.slots[rd.idx]
		s.mu.lock()
		v, pos := s.val, s.pos
		s.mu.unlock()
		if pos != rd.pos+1 {
			rd.known = r.tail.Load() // overwritten: the fresh tail tells how far we lag
			continue
		}
		rd.pos++
		if rd.idx++; rd.idx == r.capacity {
			rd.idx = 0
		}
		rd.published.Store(rd.pos)
		return v, nil
	}
}

// lag moves the reader to oldest and reports how many values it skipped.
func (rd *ringReader[T]) lag(oldest uint64) error {
	n := oldest - rd.pos
	rd.pos, rd.idx = oldest, oldest%rd.r.capacity
	rd.missed.Add(n)
	rd.lags.Add(1)
	rd.published.Store(rd.pos)
	return &LagError{Missed: n}
}

// Recv waits for the next value.
func (rd *ringReader[T]) Recv(ctx context.Context) (T, error) {
	if rd.closed.Load() {
		var zero T
		return zero, ErrClosed
	}
	return recvWait[T](ctx, rd, &rd.r.ws, rd.w, nil)
}

// Release releases the n oldest received values of a holding reader.
func (rd *ringReader[T]) Release(n int) {
	if !rd.holding || n <= 0 {
		return
	}
	rd.held.Add(uint64(n))
	rd.r.room.signal()
}

// Backlog is how many values were pushed that this reader has not received.
func (rd *ringReader[T]) Backlog() uint64 {
	tail, pos := rd.r.tail.Load(), rd.published.Load()
	if tail <= pos {
		return 0
	}
	return min(tail-pos, rd.r.capacity)
}

// Dropped counts the values overwritten before this reader read them.
func (rd *ringReader[T]) Dropped() uint64 { return rd.missed.Load() }

// Notify arms wake for the next Push (see Reader.Notify).
func (rd *ringReader[T]) Notify(wake func()) bool {
	if rd.closed.Load() {
		return false
	}
	return rd.r.ws.arm(rd.w, wake, func() bool { return rd.r.tail.Load() != rd.published.Load() }) // pos is the reader goroutine's; Notify may run on another
}

// Close detaches the reader.
func (rd *ringReader[T]) Close() {
	if !rd.closed.CompareAndSwap(false, true) {
		return
	}
	r := rd.r
	if rd.holding {
		r.unhold(rd)
	}
	r.ws.remove(rd.w)
	r.readers.Delete(rd)
	missed := rd.missed.Load()
	r.retired.consumed.Add(rd.published.Load() - rd.start - missed)
	r.retired.dropped.Add(missed)
	r.retired.lagged.Add(rd.lags.Load())
}
