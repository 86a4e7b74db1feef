package rawio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// pairs returns connected socket pairs of each kind rawio wraps: TCP on loopback and
// a unix socket.
func pairs(t testing.TB) map[string][2]net.Conn {
	t.Helper()
	out := map[string][2]net.Conn{}
	for _, kind := range []string{"tcp", "unix"} {
		addr := "127.0.0.1:0"
		if kind == "unix" {
			addr = filepath.Join(t.TempDir(), "s")
		}
		l, err := net.Listen(kind, addr)
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				accepted <- nil
				return
			}
			accepted <- c
		}()
		c, err := net.Dial(kind, l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s := <-accepted
		l.Close()
		if s == nil {
			t.Fatalf("%s: accept failed", kind)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		out[kind] = [2]net.Conn{c, s}
	}
	return out
}

func wrap(t *testing.T, c net.Conn) net.Conn {
	t.Helper()
	w := Wrap(c)
	if _, ok := w.(*Conn); !ok && runtime.GOOS == "linux" {
		t.Fatalf("Wrap(%T) = %T, want *rawio.Conn on Linux", c, w)
	}
	return w
}

// TestConnCarriesWhatIsWritten: 8 MiB, more than the socket buffers hold, written in
// one call (the writer waits in the poller for room) and read back in small reads,
// byte for byte; then the peer's close reads as io.EOF.
func TestConnCarriesWhatIsWritten(t *testing.T) {
	for kind, p := range pairs(t) {
		t.Run(kind, func(t *testing.T) {
			a, b := wrap(t, p[0]), wrap(t, p[1])
			want := make([]byte, 8<<20)
			rand.Read(want)
			wrote := make(chan error, 1)
			go func() {
				n, err := a.Write(want)
				if err == nil && n != len(want) {
					err = io.ErrShortWrite
				}
				wrote <- err
				a.Close()
			}()
			var got bytes.Buffer
			buf := make([]byte, 3000)
			for {
				n, err := b.Read(buf)
				got.Write(buf[:n])
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("read after %d bytes: %v", got.Len(), err)
				}
			}
			if err := <-wrote; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("read %d bytes, not the %d written (or not the same)", got.Len(), len(want))
			}
		})
	}
}

// TestConnDeadlinesAndClose: a read deadline ends a waiting Read with
// os.ErrDeadlineExceeded (a net.Error that is a timeout), a write to a closed
// connection fails naming net.ErrClosed, and a zero-length read returns at once.
func TestConnDeadlinesAndClose(t *testing.T) {
	for kind, p := range pairs(t) {
		t.Run(kind, func(t *testing.T) {
			a := wrap(t, p[0])
			if n, err := a.Read(nil); n != 0 || err != nil {
				t.Fatalf("empty read = %d, %v", n, err)
			}
			a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			start := time.Now()
			_, err := a.Read(make([]byte, 10))
			var ne net.Error
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read past its deadline: %v, want os.ErrDeadlineExceeded as a net.Error timeout", err)
			}
			if waited := time.Since(start); waited < 40*time.Millisecond {
				t.Fatalf("the read returned after %v, before its deadline", waited)
			}
			a.Close()
			if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("write after close: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestConnReportsResetAsOpError: a write to a peer that is gone fails with a
// *net.OpError naming the operation around the system call's error, as the net
// package's own would.
func TestConnReportsResetAsOpError(t *testing.T) {
	p := pairs(t)["unix"]
	a := wrap(t, p[0])
	p[1].Close()
	var err error
	for range 100 { // the first writes may still be buffered
		if _, err = a.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	var op *net.OpError
	var sc *os.SyscallError
	if !errors.As(err, &op) || op.Op != "write" || !errors.As(err, &sc) {
		t.Fatalf("write to a closed peer: %v, want a *net.OpError of a write around an *os.SyscallError", err)
	}
}

// TestConnEndsWaitingCalls: Close ends a Read waiting for data with net.ErrClosed, and
// a write deadline ends a Write waiting for room (the peer reads nothing) with
// os.ErrDeadlineExceeded, reporting less than it was given; both name the operation.
func TestConnEndsWaitingCalls(t *testing.T) {
	more := pairs(t) // the write waits on a pair of its own
	for kind, p := range pairs(t) {
		t.Run(kind, func(t *testing.T) {
			a, b := wrap(t, p[0]), wrap(t, more[kind][0])
			read := make(chan error, 1)
			go func() {
				_, err := a.Read(make([]byte, 10))
				read <- err
			}()
			time.Sleep(20 * time.Millisecond) // let the Read wait in the poller (passes either way)
			a.Close()
			select {
			case err := <-read:
				var op *net.OpError
				if !errors.Is(err, net.ErrClosed) || !errors.As(err, &op) || op.Op != "read" {
					t.Fatalf("read ended by Close: %v, want net.ErrClosed in a *net.OpError of a read", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not end the waiting Read")
			}

			b.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := b.Write(make([]byte, 64<<20))
			var op *net.OpError
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &op) || op.Op != "write" {
				t.Fatalf("write past its deadline: %v, want os.ErrDeadlineExceeded in a *net.OpError of a write", err)
			}
			if n < 0 || n >= 64<<20 { // 0 when the deadline passed before the first try (a busy machine)
				t.Fatalf("the write reported %d bytes written, want what the socket took before the deadline", n)
			}
		})
	}
}

// TestWrapLeavesOtherConnectionsAlone: a connection that is no socket is returned
// as it is.
func TestWrapLeavesOtherConnectionsAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if w := Wrap(a); w != a {
		t.Fatalf("Wrap(net.Pipe) = %T, want the pipe itself", w)
	}
}

// TestOrderingThroughTheSocket: what a goroutine wrote to memory before it wrote to
// the socket is seen by the goroutine that read that from the socket, and the race
// detector (make test runs under it) knows so: through direct system calls it would
// report this as a data race.
func TestOrderingThroughTheSocket(t *testing.T) {
	for kind, p := range pairs(t) {
		t.Run(kind, func(t *testing.T) {
			a, b := wrap(t, p[0]), wrap(t, p[1])
			var shared int
			go func() {
				shared = 42
				a.Write([]byte{1})
			}()
			if _, err := io.ReadFull(b, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			if shared != 42 {
				t.Fatalf("shared = %d after the socket said it was written", shared)
			}
		})
	}
}
