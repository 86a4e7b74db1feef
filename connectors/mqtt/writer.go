package mqtt

import (
	"net"
	"sync"
	"time"
)

// maxPendingWrite bounds the bytes a connection queues for its flusher; beyond it a
// writer waits, so a stalled socket back-pressures paho instead of growing memory.
const maxPendingWrite = 1 << 20

// coalescingConn is a net.Conn whose writes go to a flusher goroutine that writes
// whatever has queued in one system call. paho writes every packet with its own
// Write; while the flusher is in one write, the packets of a busy link gather for the
// next, so a burst costs a few system calls instead of one per message (and wakes the
// broker a few times instead of once per message). Write returns once its bytes are
// queued; an error of the socket is returned by the next Write and by Close.
type coalescingConn struct {
	net.Conn

	mu      sync.Mutex
	cond    *sync.Cond // signalled when the flusher took the queue or stopped
	pending []byte
	spare   []byte
	err     error
	closed  bool
	wake    chan struct{}
	done    chan struct{}
}

func newCoalescingConn(c net.Conn) *coalescingConn {
	w := &coalescingConn{Conn: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.flush()
	return w
}

// Write queues p for the flusher.
func (w *coalescingConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.pending) > maxPendingWrite && w.err == nil && !w.closed {
		w.cond.Wait()
	}
	switch {
	case w.err != nil:
		err := w.err
		w.mu.Unlock()
		return 0, err
	case w.closed:
		w.mu.Unlock()
		return 0, net.ErrClosed
	}
	first := len(w.pending) == 0
	w.pending = append(w.pending, p...)
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// flush writes what queued until the connection closes and nothing is left.
func (w *coalescingConn) flush() {
	defer close(w.done)
	for range w.wake {
		for {
			w.mu.Lock()
			buf := w.pending
			if len(buf) == 0 || w.err != nil {
				closed := w.closed
				w.mu.Unlock()
				if closed {
					return
				}
				break
			}
			w.pending, w.spare = w.spare[:0], nil
			w.cond.Broadcast()
			w.mu.Unlock()
			_, err := w.Conn.Write(buf)
			w.mu.Lock()
			w.spare = buf[:0]
			if err != nil && w.err == nil {
				w.err = err
				w.cond.Broadcast()
			}
			w.mu.Unlock()
		}
	}
}

// closeFlushTimeout bounds how long Close spends writing what is queued.
const closeFlushTimeout = time.Second

// Close writes what is queued (for at most closeFlushTimeout), then closes the
// connection.
func (w *coalescingConn) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	_ = w.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	select {
	case w.wake <- struct{}{}: // the flusher writes what is left, then stops
	default: // a wake-up is pending already
	}
	select {
	case <-w.done:
	case <-time.After(closeFlushTimeout):
	}
	err := w.Conn.Close() // also ends a write stuck on a dead peer
	<-w.done
	return err
}
