//go:build linux

package mqtt

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/rawio"
)

// After every read from the broker the connection acknowledges at once: TCP_QUICKACK
// is on again, although request-reply traffic has made Linux delay its ACKs. With a
// broker that has Nagle's algorithm on, a delayed ACK holds back the PUBACKs of a
// pipelined batch (BenchmarkPluginOutboundQoS1 shows the cost). With tcp_quickack =
// "publishing" only while publishes await acknowledgement: otherwise Linux delays its
// ACKs as usual.
func TestDialAcknowledgesAtOnceAfterEachRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ackNow func() bool
		want   bool
	}{
		{"always", nil, true},
		{"publishing, a batch awaits acknowledgements", func() bool { return true }, true},
		{"publishing, nothing awaits acknowledgement", func() bool { return false }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on := exchanges(t, tc.ackNow, 20)
			for i, o := range on[5:] { // Linux leaves quick ACK mode after a few exchanges by itself
				if o != tc.want {
					t.Fatalf("exchange %d: TCP_QUICKACK on = %v after a read, want %v (all: %v)", i+5, o, tc.want, on)
				}
			}
		})
	}
}

// exchanges makes n request-reply exchanges over a connection from dial (with
// ackNow) and returns whether TCP_QUICKACK was on after each reply was read.
func exchanges(t *testing.T, ackNow func() bool, n int) []bool {
	t.Helper()
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
	conn, err := dial(ctx, ln.Addr().String(), nil, ackNow)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var qc *quickAckConn
	if bc, ok := conn.(*bufferedConn); ok {
		if cc, ok := bc.Conn.(*coalescingConn); ok {
			qc, _ = cc.Conn.(*quickAckConn)
		}
	}
	if qc == nil {
		t.Fatalf("dial's connection %T does not read through a quickAckConn", conn)
	}
	reply := make([]byte, 4)
	var on []bool
	for range n {
		if _, err := conn.Write([]byte("publish!")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, reply); err != nil {
			t.Fatal(err)
		}
		on = append(on, quickAckOn(t, qc.raw))
	}
	return on
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

// TestDialReadsAndWritesDirectly: the broker connection dial returns reads and writes
// through rawio (docs/plugin-protocol.md, "Direct system calls"), beneath the quick-ACK
// wrapper, the read buffer and the write coalescer.
func TestDialReadsAndWritesDirectly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			io.Copy(c, c)
		}
	}()
	conn, err := dial(context.Background(), ln.Addr().String(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bc, ok := conn.(*bufferedConn)
	if !ok {
		t.Fatalf("dial's connection is %T, want a buffered one", conn)
	}
	cc, ok := bc.Conn.(*coalescingConn)
	if !ok {
		t.Fatalf("beneath the read buffer: %T, want the write coalescer", bc.Conn)
	}
	qa, ok := cc.Conn.(*quickAckConn)
	if !ok {
		t.Fatalf("beneath the write coalescer: %T, want the quick-ACK wrapper", cc.Conn)
	}
	if _, ok := qa.Conn.(*rawio.Conn); !ok {
		t.Fatalf("beneath the quick-ACK wrapper: %T, want *rawio.Conn", qa.Conn)
	}
	if _, err := conn.Write([]byte("echo")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "echo" {
		t.Fatalf("read back %q, %v", got, err)
	}
}
