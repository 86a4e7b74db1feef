package mqtt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Writes queue in order, reach the peer in order whatever the timing, and Close
// writes what is still queued before it closes.
func TestCoalescingConnKeepsOrderAndFlushesOnClose(t *testing.T) {
	a, b := net.Pipe()
	w := newCoalescingConn(a)
	var got bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(&got, b)
	}()
	var want bytes.Buffer
	for i := 0; i < 2000; i++ {
		p := []byte(strconv.Itoa(i) + ",")
		want.Write(p)
		if n, err := w.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: %d %v", i, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("peer got %d bytes, want %d in order", got.Len(), want.Len())
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// A socket error reaches the next Write, and a peer that stops reading holds writers
// up once maxPendingWrite bytes are queued instead of growing memory.
func TestCoalescingConnErrorsAndBackPressure(t *testing.T) {
	a, b := net.Pipe()
	w := newCoalescingConn(a)
	big := make([]byte, 64<<10)
	blocked := make(chan struct{})
	go func() {
		defer close(blocked)
		for i := 0; i < 2*maxPendingWrite/len(big)+2; i++ {
			if _, err := w.Write(big); err != nil {
				return
			}
		}
	}()
	select {
	case <-blocked:
		t.Fatal("writes did not wait for a peer that reads nothing")
	case <-time.After(300 * time.Millisecond):
	}
	b.Close() // the flusher's write fails; the waiting writer gets the error
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("a writer waiting on a dead socket was not released")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after the socket failed succeeded")
	}
	w.Close()
}
