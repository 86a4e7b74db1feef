package buffer

import (
	"context"
	"sync/atomic"
)

// Mailbox is a one-slot buffer: a new value overwrites one nobody took yet, and readers
// compete, so each value goes to exactly one of them. It suits commands, where only the
// newest matters and one handler should act on it.
type Mailbox[T any] struct {
	mu       spinLock
	val      T
	last     T           // newest value pushed, kept for Peek after val was taken
	full     atomic.Bool // read without mu for the empty check; written under mu
	pushed   uint64      // counters guarded by mu
	dropped  uint64      // overwritten before anyone took them
	consumed uint64

	ws waitSet
}

// NewMailbox makes an empty mailbox.
func NewMailbox[T any]() *Mailbox[T] {
	m := &Mailbox[T]{}
	m.ws.init()
	return m
}

// Push puts v in the slot, replacing an unread value.
func (m *Mailbox[T]) Push(v T) error {
	m.mu.lock()
	if m.ws.closed.Load() {
		m.mu.unlock()
		return ErrClosed
	}
	m.val, m.last = v, v
	if m.full.Load() {
		m.dropped++
	} else {
		m.full.Store(true)
	}
	m.pushed++
	n := m.pushed
	m.mu.unlock()
	m.ws.wake(1)
	budget(n)
	return nil
}

// Peek returns the newest value pushed, whether or not a reader took it.
func (m *Mailbox[T]) Peek() (T, bool) {
	m.mu.lock()
	defer m.mu.unlock()
	return m.last, m.pushed > 0
}

// Subscribe returns a reader competing for the slot with the other readers.
func (m *Mailbox[T]) Subscribe() Reader[T] {
	rd := &mailboxReader[T]{m: m, w: newWaiter()}
	m.ws.add(rd.w)
	return rd
}

// SubscribeHolding returns an ordinary reader: a mailbox keeps one value, the newest.
func (m *Mailbox[T]) SubscribeHolding() (Reader[T], bool) { return m.Subscribe(), false }

// Room returns a closed channel: a mailbox is never full.
func (m *Mailbox[T]) Room() <-chan struct{} { return closedChan }

// Close closes the mailbox; an unread value can still be taken, then readers get ErrClosed.
func (m *Mailbox[T]) Close() {
	m.mu.lock() // no Push is half done once readers see the mailbox closed
	m.ws.close()
	m.mu.unlock()
}

// Spec returns KindMailbox with capacity 1.
func (m *Mailbox[T]) Spec() Spec { return Spec{Kind: KindMailbox, Capacity: 1} }

// Stats returns the mailbox's counters.
func (m *Mailbox[T]) Stats() Stats {
	m.mu.lock()
	defer m.mu.unlock()
	st := Stats{Produced: m.pushed, Consumed: m.consumed, Dropped: m.dropped, Capacity: 1, Readers: m.ws.count()}
	if m.full.Load() {
		st.Occupancy = 1
	}
	return st
}

// take empties the slot if it is full.
func (m *Mailbox[T]) take() (T, bool) {
	var zero T
	if !m.full.Load() {
		return zero, false
	}
	m.mu.lock()
	if !m.full.Load() {
		m.mu.unlock()
		return zero, false
	}
	v := m.val
	m.val = zero // drop references held by the taken value
	m.full.Store(false)
	m.consumed++
	m.mu.unlock()
	return v, true
}

// handoff passes a wake-up on when its reader gave up while a value waits.
func (m *Mailbox[T]) handoff() {
	if m.full.Load() {
		m.ws.wake(1)
	}
}

type mailboxReader[T any] struct {
	m      *Mailbox[T]
	w      *waiter
	closed atomic.Bool // set by Close, from any goroutine
}

// TryRecv takes the value in the slot, if any.
func (rd *mailboxReader[T]) TryRecv() (T, error) {
	var zero T
	if rd.closed.Load() {
		return zero, ErrClosed
	}
	if v, ok := rd.m.take(); ok {
		return v, nil
	}
	if rd.m.ws.closed.Load() && !rd.m.full.Load() {
		return zero, ErrClosed
	}
	return zero, ErrEmpty
}

// Recv waits until this reader wins a value.
func (rd *mailboxReader[T]) Recv(ctx context.Context) (T, error) {
	if rd.closed.Load() {
		var zero T
		return zero, ErrClosed
	}
	return recvWait[T](ctx, rd, &rd.m.ws, rd.w, rd.m.handoff)
}

// Release does nothing: a mailbox reader does not hold values.
func (rd *mailboxReader[T]) Release(int) {}

// Backlog is 1 while the slot holds a value nobody took.
func (rd *mailboxReader[T]) Backlog() uint64 {
	if rd.m.full.Load() {
		return 1
	}
	return 0
}

// Dropped counts the values overwritten unread in the mailbox, whichever reader
// would have taken them.
func (rd *mailboxReader[T]) Dropped() uint64 {
	rd.m.mu.lock()
	defer rd.m.mu.unlock()
	return rd.m.dropped
}

// Notify arms wake for the next Push (see Reader.Notify). A woken reader that does not
// take the value holds it from the other readers until it closes.
func (rd *mailboxReader[T]) Notify(wake func()) bool {
	if rd.closed.Load() {
		return false
	}
	return rd.m.ws.arm(rd.w, wake, rd.m.full.Load)
}

// Close detaches the reader.
func (rd *mailboxReader[T]) Close() {
	if !rd.closed.CompareAndSwap(false, true) {
		return
	}
	rd.m.ws.remove(rd.w)
	rd.m.handoff()
}
