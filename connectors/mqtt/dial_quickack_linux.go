package mqtt

import (
	"net"
	"syscall"
)

// quickAck returns c, a TCP connection (rawio's, on Linux), wrapped so that every
// read turns TCP_QUICKACK on again: the kernel then acknowledges what the broker
// sends at once instead of holding the ACK for up to 40 ms in the hope of sending it
// with data. A broker with Nagle's algorithm on (mosquitto's default,
// set_tcp_nodelay false) holds its second small packet until the first is
// acknowledged, so without this a pipelined batch of QoS 1 publishes waits a delayed
// ACK for its PUBACKs (64 publishes at once: about 1,700 msg/s instead of 14,000;
// BenchmarkPluginOutboundQoS1). Linux turns quick ACKs off again by itself, hence
// after every read. With ackNow set, only after the reads for which it reports true
// (tcp_quickack = "publishing").
func quickAck(c net.Conn, ackNow func() bool) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{Conn: c, raw: raw, now: ackNow}
}

// quickAckConn is a TCP connection that turns TCP_QUICKACK on after each read (that
// now, when set, allows).
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
	now func() bool
}

// Read reads from the connection, then turns TCP_QUICKACK on (best effort).
func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && (c.now == nil || c.now()) {
		_ = c.raw.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
	return n, err
}
