package connect

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// TestDurableGate: an inbound value is acknowledged only once every disk outbox of its
// record stored everything the record held when it took the value, in order; values
// taken before a filler registered wait for it; on shutdown the waiting ones fail as
// closed, so the outside system sends them again.
func TestDurableGate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := newDurableGate("r", 2)
	var acked []int
	var failed atomic.Int32
	ackCh := make(chan int, 10)
	settle := func(n int) func(error) {
		return func(err error) {
			if err != nil {
				if sdk.KindOf(err) != sdk.KindClosed {
					t.Errorf("value %d: %v, want closed", n, err)
				}
				failed.Add(1)
				return
			}
			ackCh <- n
		}
	}
	expect := func(want ...int) {
		t.Helper()
		for _, w := range want {
			select {
			case n := <-ackCh:
				acked = append(acked, n)
				if n != w {
					t.Fatalf("acknowledged %v, want %d next", acked, w)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("acknowledged %v, waiting for %d", acked, w)
			}
		}
		select {
		case n := <-ackCh:
			t.Fatalf("acknowledged %d too early (after %v)", n, acked)
		case <-time.After(50 * time.Millisecond):
		}
	}
	var backlogA, backlogB atomic.Uint64
	backlogA.Store(1)
	a := g.register(backlogA.Load)
	g.add(ctx, settle(1)) // filler B is missing: waits for it
	expect()
	backlogB.Store(1)
	b := g.register(backlogB.Load)
	a.taken.Add(1)
	backlogA.Store(0)
	a.store(1)
	expect() // B has not stored it
	backlogA.Store(1)
	backlogB.Store(2)
	g.add(ctx, settle(2))
	b.taken.Add(1)
	backlogB.Store(1)
	b.store(1)
	expect(1) // value 2 still waits in both
	a.taken.Add(1)
	a.store(1)
	b.taken.Add(1)
	b.store(1)
	expect(2)
	backlogA.Store(1)
	g.add(ctx, settle(3))
	g.add(ctx, settle(4))
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for failed.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 2 waiting values failed at shutdown", failed.Load())
		}
		time.Sleep(time.Millisecond)
	}
	g.add(context.Background(), settle(5)) // after shutdown: fails at once
	if failed.Load() != 3 {
		t.Errorf("a value taken after shutdown did not fail")
	}
}
