// Package rawio gives socket connections reads and writes that call read(2) and
// write(2) directly instead of through the Go runtime's system-call bookkeeping.
//
// Every system call a goroutine makes the usual way tells the scheduler it may
// block; in a process whose processors were all idle that wakes the runtime's
// monitor thread (sysmon), which then polls every 20 µs until the process is idle
// again. A connector plugin at a steady few thousand messages per second wakes up
// for each message, so that monitor spent about half of the plugin's context
// switches (docs/benchmarks.md). The sockets are non-blocking (the Go network poller
// sets them so), so a direct read or write returns at once: when it would block, the
// goroutine waits in the network poller exactly as before, and deadlines hold. That
// rests on the sockets staying non-blocking: nothing may call File or Fd on them
// (either turns a socket blocking, and a direct call on a blocking socket would hold
// its thread's processor, and the garbage collector, until data came).
package rawio

import (
	"net"
	"os"
	"syscall"
)

// Conn is a socket connection whose Read and Write call the system directly.
type Conn struct {
	net.Conn
	raw syscall.RawConn
}

// Wrap returns c as a *Conn when it is a TCP or unix socket connection on a system
// where direct calls are supported (Linux), and c itself otherwise.
func Wrap(c net.Conn) net.Conn {
	if !supported {
		return c
	}
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return c
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return c
	}
	return &Conn{Conn: c, raw: raw}
}

// SyscallConn returns the socket's raw connection.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.raw, nil }

// Read reads into p, waiting in the network poller while nothing has arrived.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := read(c.raw, p)
	if err != nil {
		return n, c.opError("read", err)
	}
	return n, nil
}

// Write writes all of p, waiting in the network poller while the socket's buffer is
// full.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := write(c.raw, p)
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// opError describes err as the net package would: a system call's error in a
// *net.OpError of op, the poller's (deadline, closed connection) in the raw
// connection's *net.OpError renamed to op, io.EOF as it is.
func (c *Conn) opError(op string, err error) error {
	switch e := err.(type) {
	case syscall.Errno:
		return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
			Err: os.NewSyscallError(op, e)}
	case *net.OpError:
		e.Op = op
		return e
	}
	return err
}
