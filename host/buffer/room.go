package buffer

import (
	"sync"
	"sync/atomic"
)

// roomSignal tells producers refused with ErrFull that a holding reader released
// values. A producer registers (wait) before it checks again, so a release between
// its refusal and its wait is never missed.
type roomSignal struct {
	mu      sync.Mutex
	ch      chan struct{}
	waiting atomic.Bool
}

// wait returns a channel that is closed at the next signal.
func (s *roomSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	s.waiting.Store(true)
	return s.ch
}

// signal wakes every waiter; it costs one atomic load when nobody waits.
func (s *roomSignal) signal() {
	if !s.waiting.Load() {
		return
	}
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.waiting.Store(false)
	s.mu.Unlock()
}

// closedChan is returned by Room of buffers that are never full.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
