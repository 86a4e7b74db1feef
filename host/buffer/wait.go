package buffer

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// A reader that finds nothing retries spinTries times, then yieldTries times with a
// runtime.Gosched in between, before it parks: a value that arrives within a few
// microseconds is taken without parking and waking a goroutine, which costs far more
// (a futex wake-up of another thread when the producer keeps its processor busy).
const (
	spinTries  = 64
	yieldTries = 16
)

// yieldEvery is the producer's cooperative budget: after this many pushes, Push yields
// the processor once (runtime.Gosched). Like tokio's task budget, it keeps a producer in
// a tight loop from starving the readers it woke, which otherwise wait on its processor
// until the runtime preempts it (10 ms) whenever no other processor is free. A yield
// costs about 100-200 ns, so about a nanosecond per push; it never waits for readers.
const yieldEvery = 128

// budget yields the processor when n, a running push count, ends a budget.
func budget(n uint64) {
	if n%yieldEvery == 0 {
		runtime.Gosched()
	}
}

// waiter is one reader's wake-up slot. A producer that finds parked set clears it and
// drops a token into ch, or calls notify when the reader armed one with Notify; a stale
// token only causes one extra retry.
type waiter struct {
	ch     chan struct{}
	parked atomic.Bool
	notify atomic.Pointer[func()]
}

func newWaiter() *waiter { return &waiter{ch: make(chan struct{}, 1)} }

// signal hands a wake-up to w's reader: a call of its Notify function, or a token for Recv.
func (w *waiter) signal() {
	if f := w.notify.Load(); f != nil {
		(*f)()
		return
	}
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// waitSet is the set of readers of one buffer plus the closed signal. The reader list
// is copy-on-write so producers iterate it without locking.
type waitSet struct {
	mu       sync.Mutex
	list     atomic.Pointer[[]*waiter]
	sleeping atomic.Int32
	closed   atomic.Bool
	done     chan struct{}
}

func (s *waitSet) init() { s.done = make(chan struct{}) }

func (s *waitSet) add(w *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []*waiter
	if old := s.list.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, w)
	s.list.Store(&next)
}

func (s *waitSet) remove(w *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.list.Load()
	if old == nil {
		return
	}
	next := make([]*waiter, 0, len(*old))
	for _, x := range *old {
		if x != w {
			next = append(next, x)
		}
	}
	s.list.Store(&next)
	s.unpark(w)
	select { // a Recv parked on w returns and sees its reader closed
	case w.ch <- struct{}{}:
	default:
	}
}

// count returns the number of registered readers.
func (s *waitSet) count() int {
	if l := s.list.Load(); l != nil {
		return len(*l)
	}
	return 0
}

// wake wakes up to n parked readers (n < 0: all). Producers call it after publishing.
func (s *waitSet) wake(n int) {
	if s.sleeping.Load() == 0 {
		return
	}
	l := s.list.Load()
	if l == nil {
		return
	}
	for _, w := range *l {
		if n == 0 {
			return
		}
		if w.parked.Load() && w.parked.CompareAndSwap(true, false) {
			s.sleeping.Add(-1)
			w.signal()
			n--
		}
	}
}

// unpark clears w's parked flag if nobody else did; it reports whether it did.
func (s *waitSet) unpark(w *waiter) bool {
	if w.parked.CompareAndSwap(true, false) {
		s.sleeping.Add(-1)
		return true
	}
	return false
}

// close marks the set closed and releases every parked reader: those in Recv through
// done, those armed with Notify by a call.
func (s *waitSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return
	}
	s.closed.Store(true)
	close(s.done)
	if l := s.list.Load(); l != nil {
		for _, w := range *l {
			if w.notify.Load() != nil && s.unpark(w) {
				w.signal()
			}
		}
	}
}

// arm parks w for a call of wake instead of a parked goroutine (see Reader.Notify). It
// reports false, leaving nothing armed, when ready says a value waits or the set is
// closed; ready is checked after parking, so no Push falls between the check and the
// arming unnoticed.
func (s *waitSet) arm(w *waiter, wake func(), ready func() bool) bool {
	w.notify.Store(&wake)
	s.sleeping.Add(1)
	w.parked.Store(true)
	if ready() || s.closed.Load() {
		s.unpark(w) // when a producer unparked w first, it calls wake: a spurious call
		return false
	}
	return true
}

// tryRecver is the non-blocking half of a reader.
type tryRecver[T any] interface {
	TryRecv() (T, error)
}

// recvWait implements Recv for every buffer: spin briefly, then park until a producer
// wakes w, the set closes or ctx ends. handoff is called when the reader gives up after
// having been woken, so a mailbox can pass the wake-up to another reader.
func recvWait[T any, R tryRecver[T]](ctx context.Context, r R, s *waitSet, w *waiter, handoff func()) (T, error) {
	for i := 0; i < spinTries+yieldTries; i++ {
		v, err := r.TryRecv()
		if err != ErrEmpty {
			return v, err
		}
		if i >= spinTries {
			runtime.Gosched()
		}
	}
	for {
		s.sleeping.Add(1)
		w.parked.Store(true)
		v, err := r.TryRecv()
		if err != ErrEmpty {
			s.unpark(w)
			return v, err
		}
		select {
		case <-w.ch:
		case <-s.done:
			s.unpark(w)
		case <-ctx.Done():
			if !s.unpark(w) && handoff != nil {
				handoff() // a producer chose us; let someone else have the value
			}
			var zero T
			return zero, ctx.Err()
		}
	}
}
