//go:build linux

package mqtt

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// After every read from the broker the connection acknowledges at once: TCP_QUICKACK
// is on again, although request-reply traffic has made Linux delay its ACKs. With a
// broker that has Nagle's algorithm on, a delayed ACK holds back the PUBACKs of a
// pipelined batch (BenchmarkPluginOutboundQoS1 shows the cost).
func TestDialAcknowledgesAtOnceAfterEachRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // the broker's side: answers every 8-byte request with 4 bytes
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req := make([]byte, 8)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			if _, err := c.Write([]byte("ack!")); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dial(ctx, ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	qc, ok := conn.(*bufferedConn).Conn.(*coalescingConn).Conn.(*quickAckConn)
	if !ok {
		t.Fatalf("dial's connection reads through %T, not a quickAckConn", conn.(*bufferedConn).Conn.(*coalescingConn).Conn)
	}
	reply := make([]byte, 4)
	for i := range 20 {
		if _, err := conn.Write([]byte("publish!")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, reply); err != nil {
			t.Fatal(err)
		}
		if on := quickAckOn(t, qc.raw); !on {
			t.Fatalf("exchange %d: TCP_QUICKACK is off after a read", i)
		}
	}
}

// quickAckOn reads TCP_QUICKACK of the socket behind raw.
func quickAckOn(t *testing.T, raw syscall.RawConn) bool {
	t.Helper()
	var v int
	var err error
	if cerr := raw.Control(func(fd uintptr) {
		v, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
	}); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v != 0
}
