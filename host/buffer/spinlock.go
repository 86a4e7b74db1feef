package buffer

import (
	"runtime"
	"sync/atomic"
)

// spinLock guards the copy of one value in or out of a slot. The critical sections are
// a few nanoseconds long, so waiting by spinning (yielding after a while, in case the
// holder was descheduled) beats sync.Mutex, whose slow path parks the goroutine and
// makes the next wake-up a futex call. The race detector sees the atomics as
// synchronisation, so the values the lock guards are race-free.
type spinLock struct {
	v atomic.Uint32
}

func (l *spinLock) lock() {
	if !l.v.CompareAndSwap(0, 1) {
		l.lockSlow()
	}
}

// lockSlow waits for the holder, reading before retrying so waiters do not keep
// stealing the cache line from it.
func (l *spinLock) lockSlow() {
	for i := 0; ; i++ {
		if i >= 16 {
			runtime.Gosched()
		}
		if l.v.Load() == 0 && l.v.CompareAndSwap(0, 1) {
			return
		}
	}
}

func (l *spinLock) unlock() { l.v.Store(0) }

// cacheLinePad keeps fields written by one side (producer or reader) off the cache line
// of fields the other side reads, so they do not invalidate each other's caches.
type cacheLinePad [64]byte
