package control

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Transport carries one connection's frames: newline-delimited JSON on the control
// socket (NewLineTransport), or one frame per WebSocket message (host/ops). The
// protocol itself (conn.go) is the same over every transport.
type Transport interface {
	// ReadFrame returns the next frame the client sent, waiting until deadline at
	// most. A frame longer than maxBytes is skipped and reported as ErrFrameTooLong
	// (the connection goes on); a deadline that passed is an error whose Timeout()
	// is true; a connection that ended is io.EOF or net.ErrClosed.
	ReadFrame(deadline time.Time, maxBytes int) ([]byte, error)
	// WriteFrames sends frames in order, each one line of JSON ending in '\n', and
	// returns once the network took them, or with an error whose Timeout() is true
	// once deadline passed (zero: no deadline).
	WriteFrames(frames [][]byte, deadline time.Time) error
	// Hangup sends a last frame within about a second, even while WriteFrames is
	// stuck on a client that does not read, and closes the connection.
	Hangup(frame []byte)
	// Close closes the connection; it may be called more than once, concurrently
	// with the other methods.
	Close() error
	// String names the client for log lines.
	String() string
}

// ErrFrameTooLong is returned by Transport.ReadFrame for a frame over the limit.
var ErrFrameTooLong = errors.New("frame too long")

// HangupGrace bounds how long a last frame may take before a transport's connection
// closes (Transport.Hangup); every transport uses it.
const HangupGrace = time.Second

// lineTransport is newline-delimited JSON over a stream connection.
type lineTransport struct {
	nc   net.Conn
	r    *bufio.Reader
	line []byte

	wmu     sync.Mutex // held while writing: by WriteFrames, or by Hangup
	w       *bufio.Writer
	hanging atomic.Bool // Hangup began: WriteFrames writes nothing more
}

// NewLineTransport carries frames as lines of JSON over nc (the control socket).
func NewLineTransport(nc net.Conn) Transport {
	return &lineTransport{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}
}

// ReadFrame reads up to the next newline; an overlong line is skipped to its end.
func (t *lineTransport) ReadFrame(deadline time.Time, maxBytes int) ([]byte, error) {
	t.line = t.line[:0]
	tooLong := false
	for {
		if t.r.Buffered() == 0 {
			_ = t.nc.SetReadDeadline(deadline)
		}
		chunk, err := t.r.ReadSlice('\n')
		if len(t.line)+len(chunk) > maxBytes {
			tooLong = true
			t.line = t.line[:0]
		} else if !tooLong {
			t.line = append(t.line, chunk...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return nil, err
		case tooLong:
			return nil, ErrFrameTooLong
		}
		return t.line, nil
	}
}

// WriteFrames writes every frame, then flushes.
func (t *lineTransport) WriteFrames(frames [][]byte, deadline time.Time) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	// The deadline is set before hanging is read, so a Hangup in between is seen
	// here or its own deadline comes later and wins.
	_ = t.nc.SetWriteDeadline(deadline)
	if t.hanging.Load() {
		return net.ErrClosed
	}
	for _, b := range frames {
		if _, err := t.w.Write(b); err != nil {
			return err
		}
	}
	return t.w.Flush()
}

// Hangup moves the write deadline close (which also ends a WriteFrames stuck on a
// full socket), writes frame and closes.
func (t *lineTransport) Hangup(frame []byte) {
	t.hanging.Store(true)
	_ = t.nc.SetWriteDeadline(time.Now().Add(HangupGrace))
	t.wmu.Lock()
	_, _ = t.nc.Write(frame)
	t.wmu.Unlock()
	t.nc.Close()
}

func (t *lineTransport) Close() error { return t.nc.Close() }

func (t *lineTransport) String() string { return "control socket" }
