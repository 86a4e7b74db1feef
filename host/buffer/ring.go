package buffer

import (
	"context"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Ring is the SPMC ring buffer: every reader sees every value in order; the producer
// never waits and overwrites the oldest value; a reader that falls more than Capacity
// values behind gets a *LagError with the count it missed and continues from the
// oldest value still held. A new reader sees only values pushed after it subscribed.
//
// Positions are sequence numbers; slot i%len(slots) holds position i. The slot array is
// rounded up to a power of two so indexing is a mask, while the live window stays
// exactly Capacity values.
type Ring[T any] struct {
	slots    []ringSlot[T]
	mask     uint64
	capacity uint64

	pmu  spinLock      // serialises producers (a record has one writer, but Push stays safe)
	tail atomic.Uint64 // next position to write; values [tail-capacity, tail) are live

	ws      waitSet
	readers sync.Map // *ringReader[T] -> struct{}, for Stats
	retired retiredCounts
}

type ringSlot[T any] struct {
	mu  spinLock
	pos uint64 // position+1 of the value held, 0 when never written
	val T
	_   [24]byte // keep neighbouring slot locks off one cache line for small T
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
	n := uint64(1) << bits.Len64(uint64(capacity-1))
	r := &Ring[T]{slots: make([]ringSlot[T], n), mask: n - 1, capacity: uint64(capacity)}
	r.ws.init()
	return r
}

// Push appends v, overwriting the oldest value when the ring is full.
func (r *Ring[T]) Push(v T) error {
	r.pmu.lock()
	if r.ws.closed.Load() {
		r.pmu.unlock()
		return ErrClosed
	}
	pos := r.tail.Load()
	s := &r.slots[pos&r.mask]
	s.mu.lock()
	s.val = v
	s.pos = pos + 1
	s.mu.unlock()
	r.tail.Store(pos + 1)
	r.pmu.unlock()
	r.ws.wake(-1)
	budget(pos + 1)
	return nil
}

// Peek returns the newest value.
func (r *Ring[T]) Peek() (T, bool) {
	for {
		tail := r.tail.Load()
		if tail == 0 {
			var zero T
			return zero, false
		}
		s := &r.slots[(tail-1)&r.mask]
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
func (r *Ring[T]) Subscribe() Reader[T] {
	rd := &ringReader[T]{r: r, w: newWaiter()}
	r.pmu.lock() // a consistent start position against concurrent Push
	rd.pos = r.tail.Load()
	r.pmu.unlock()
	rd.start = rd.pos
	rd.published.Store(rd.pos)
	r.readers.Store(rd, struct{}{})
	r.ws.add(rd.w)
	return rd
}

// Close closes the ring; readers drain what they have not read, then get ErrClosed.
func (r *Ring[T]) Close() {
	r.pmu.lock() // no Push is half done once readers see the ring closed
	r.ws.close()
	r.pmu.unlock()
}

// Spec returns the ring's kind and capacity.
func (r *Ring[T]) Spec() Spec { return Spec{Kind: KindSPMCRing, Capacity: int(r.capacity)} }

// Stats sums the ring's counters over all readers.
func (r *Ring[T]) Stats() Stats {
	tail := r.tail.Load()
	st := Stats{
		Produced: tail,
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
	start  uint64
	closed atomic.Bool // set by Close, from any goroutine

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
		tail := r.tail.Load()
		if rd.pos >= tail {
			if r.ws.closed.Load() && rd.pos >= r.tail.Load() {
				return zero, ErrClosed
			}
			return zero, ErrEmpty
		}
		if tail-rd.pos > r.capacity {
			return zero, rd.lag(tail - r.capacity)
		}
		s := &r.slots[rd.pos&r.mask]
		s.mu.lock()
		v, pos := s.val, s.pos
		s.mu.unlock()
		if pos != rd.pos+1 {
			continue // overwritten after we loaded tail: recompute the lag
		}
		rd.pos++
		rd.published.Store(rd.pos)
		return v, nil
	}
}

// lag moves the reader to oldest and reports how many values it skipped.
func (rd *ringReader[T]) lag(oldest uint64) error {
	n := oldest - rd.pos
	rd.pos = oldest
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

// Close detaches the reader.
func (rd *ringReader[T]) Close() {
	if !rd.closed.CompareAndSwap(false, true) {
		return
	}
	r := rd.r
	r.ws.remove(rd.w)
	r.readers.Delete(rd)
	missed := rd.missed.Load()
	r.retired.consumed.Add(rd.published.Load() - rd.start - missed)
	r.retired.dropped.Add(missed)
	r.retired.lagged.Add(rd.lags.Load())
}
