package buffer

import (
	"context"
	"sync"
	"sync/atomic"
)

// Latest is the single-latest buffer: it keeps only the newest value. A new reader
// first receives the current value (if any), then every later change; a slow reader
// skips intermediate values and never lags.
type Latest[T any] struct {
	mu  spinLock
	val T
	ver atomic.Uint64 // number of values pushed; written under mu

	ws      waitSet
	readers sync.Map // *latestReader[T]
	retired retiredCounts
}

// NewLatest makes an empty single-latest buffer.
func NewLatest[T any]() *Latest[T] {
	l := &Latest[T]{}
	l.ws.init()
	return l
}

// Push replaces the value.
func (l *Latest[T]) Push(v T) error {
	l.mu.lock()
	if l.ws.closed.Load() {
		l.mu.unlock()
		return ErrClosed
	}
	l.val = v
	n := l.ver.Add(1)
	l.mu.unlock()
	l.ws.wake(-1)
	budget(n)
	return nil
}

// Peek returns the current value without consuming it.
func (l *Latest[T]) Peek() (T, bool) {
	l.mu.lock()
	v, ver := l.val, l.ver.Load()
	l.mu.unlock()
	return v, ver > 0
}

// Subscribe returns a reader whose first value is the current one, if there is one.
func (l *Latest[T]) Subscribe() Reader[T] {
	rd := &latestReader[T]{l: l, w: newWaiter()}
	l.mu.lock()
	if v := l.ver.Load(); v > 0 {
		rd.seen.Store(v - 1) // the current value is this reader's first
	}
	l.mu.unlock()
	l.readers.Store(rd, struct{}{})
	l.ws.add(rd.w)
	return rd
}

// SubscribeHolding returns an ordinary reader: a single-latest buffer keeps only the
// newest value, so no reader can hold older ones.
func (l *Latest[T]) SubscribeHolding() (Reader[T], bool) { return l.Subscribe(), false }

// Room returns a closed channel: a single-latest buffer is never full.
func (l *Latest[T]) Room() <-chan struct{} { return closedChan }

// Close closes the buffer; readers get the unread current value, then ErrClosed.
func (l *Latest[T]) Close() {
	l.mu.lock() // no Push is half done once readers see the buffer closed
	l.ws.close()
	l.mu.unlock()
}

// Spec returns KindSingleLatest with capacity 1.
func (l *Latest[T]) Spec() Spec { return Spec{Kind: KindSingleLatest, Capacity: 1} }

// Stats sums the counters over all readers.
func (l *Latest[T]) Stats() Stats {
	ver := l.ver.Load()
	st := Stats{
		Produced: ver,
		Consumed: l.retired.consumed.Load(),
		Dropped:  l.retired.dropped.Load(),
		Capacity: 1,
	}
	l.readers.Range(func(k, _ any) bool {
		rd := k.(*latestReader[T])
		st.Consumed += rd.consumed.Load()
		st.Dropped += rd.skipped.Load()
		if rd.seen.Load() < ver {
			st.Occupancy = 1
		}
		st.Readers++
		return true
	})
	return st
}

type latestReader[T any] struct {
	l      *Latest[T]
	w      *waiter
	closed atomic.Bool // set by Close, from any goroutine

	seen     atomic.Uint64 // version last handed out
	consumed atomic.Uint64
	skipped  atomic.Uint64
}

// TryRecv returns the current value if this reader has not seen it yet.
func (rd *latestReader[T]) TryRecv() (T, error) {
	var zero T
	if rd.closed.Load() {
		return zero, ErrClosed
	}
	l := rd.l
	seen := rd.seen.Load()
	if l.ver.Load() == seen {
		if l.ws.closed.Load() && l.ver.Load() == seen {
			return zero, ErrClosed
		}
		return zero, ErrEmpty
	}
	l.mu.lock()
	v, ver := l.val, l.ver.Load()
	l.mu.unlock()
	if ver-seen > 1 {
		rd.skipped.Add(ver - seen - 1)
	}
	rd.seen.Store(ver)
	rd.consumed.Add(1)
	return v, nil
}

// Recv waits for a value this reader has not seen.
func (rd *latestReader[T]) Recv(ctx context.Context) (T, error) {
	if rd.closed.Load() {
		var zero T
		return zero, ErrClosed
	}
	return recvWait[T](ctx, rd, &rd.l.ws, rd.w, nil)
}

// Release does nothing: a single-latest reader does not hold values.
func (rd *latestReader[T]) Release(int) {}

// Backlog is 1 when the buffer holds a value this reader has not received.
func (rd *latestReader[T]) Backlog() uint64 {
	if rd.l.ver.Load() != rd.seen.Load() {
		return 1
	}
	return 0
}

// Dropped counts the values this reader skipped for a newer one.
func (rd *latestReader[T]) Dropped() uint64 { return rd.skipped.Load() }

// Notify arms wake for the next Push (see Reader.Notify).
func (rd *latestReader[T]) Notify(wake func()) bool {
	if rd.closed.Load() {
		return false
	}
	return rd.l.ws.arm(rd.w, wake, func() bool { return rd.l.ver.Load() != rd.seen.Load() })
}

// Close detaches the reader.
func (rd *latestReader[T]) Close() {
	if !rd.closed.CompareAndSwap(false, true) {
		return
	}
	rd.l.ws.remove(rd.w)
	rd.l.readers.Delete(rd)
	rd.l.retired.consumed.Add(rd.consumed.Load())
	rd.l.retired.dropped.Add(rd.skipped.Load())
}
