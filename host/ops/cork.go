package ops

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// corkConn holds a WebSocket's writes in memory while corked and sends them in one
// write when uncorked. The WebSocket library flushes every message to the network;
// the control protocol's writer hands over a batch of frames at once, so a batch
// costs one system call instead of one per frame.
type corkConn struct {
	net.Conn
	mu          sync.Mutex
	corked      bool
	buf         []byte
	interrupted atomic.Bool // interrupt was called: no more batches
}

// corkKeep is the most buffer memory a connection keeps between batches.
const corkKeep = 256 << 10

// Write buffers p while corked, else writes it through.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cork starts holding writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork sends what was held, before deadline (zero: none), and stops holding.
func (c *corkConn) uncork(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	// The deadline is set before interrupted is read, so an interrupt in between is
	// seen here or its own deadline comes later and wins.
	_ = c.Conn.SetWriteDeadline(deadline)
	if c.interrupted.Load() {
		c.buf = c.buf[:0]
		return net.ErrClosed
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > corkKeep {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// interrupt makes a write in progress, and every later one, fail at deadline.
func (c *corkConn) interrupt(deadline time.Time) {
	c.interrupted.Store(true)
	_ = c.Conn.SetWriteDeadline(deadline)
}

// corkHijacker hands the WebSocket library a corkConn when it hijacks the request's
// connection.
type corkHijacker struct {
	http.ResponseWriter
	conn *corkConn
}

// Hijack takes the connection over, wrapped in a corkConn; bytes the server already
// read stay in the reader.
func (h *corkHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &corkConn{Conn: nc}
	return h.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriter(h.conn)), nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (h *corkHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }
