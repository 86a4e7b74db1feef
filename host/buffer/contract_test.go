package buffer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// factories lists every buffer implementation; the contract tests run against each.
var factories = []struct {
	name string
	make func() Buffer[int]
}{
	{"spmc_ring", func() Buffer[int] { return NewRing[int](8) }},
	{"spmc_ring_odd_capacity", func() Buffer[int] { return NewRing[int](5) }},
	{"single_latest", func() Buffer[int] { return NewLatest[int]() }},
	{"mailbox", func() Buffer[int] { return NewMailbox[int]() }},
}

func eachBuffer(t *testing.T, f func(t *testing.T, b Buffer[int])) {
	for _, fc := range factories {
		t.Run(fc.name, func(t *testing.T) {
			b := fc.make()
			defer b.Close()
			f(t, b)
		})
	}
}

func recvWithin(t *testing.T, r Reader[int], d time.Duration) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return r.Recv(ctx)
}

func TestContractEmptyReaderReportsErrEmpty(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		defer r.Close()
		if _, err := r.TryRecv(); !errors.Is(err, ErrEmpty) {
			t.Fatalf("TryRecv on empty buffer: got %v, want ErrEmpty", err)
		}
		if _, ok := b.Peek(); ok {
			t.Fatal("Peek on empty buffer reported a value")
		}
	})
}

func TestContractPushNeverBlocks(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		idle := b.Subscribe() // a reader that never reads must not hold the producer
		defer idle.Close()
		for i := 0; i < 10000; i++ {
			if err := b.Push(i); err != nil {
				t.Fatalf("Push(%d): %v", i, err)
			}
		}
		if st := b.Stats(); st.Produced != 10000 || st.Readers != 1 {
			t.Fatalf("stats after 10000 pushes with one reader: %+v", st)
		}
	})
}

func TestContractRecvWakesOnPush(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		defer r.Close()
		got := make(chan int, 1)
		go func() {
			v, err := recvWithin(t, r, 5*time.Second)
			if err != nil {
				v = -1
			}
			got <- v
		}()
		time.Sleep(10 * time.Millisecond) // let the reader park
		if err := b.Push(42); err != nil {
			t.Fatal(err)
		}
		if v := <-got; v != 42 {
			t.Fatalf("parked reader got %d, want 42", v)
		}
	})
}

func TestContractRecvHonoursContext(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		defer r.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := r.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Recv on empty buffer with deadline: got %v", err)
		}
		// The reader still works afterwards.
		_ = b.Push(7)
		if v, err := recvWithin(t, r, time.Second); err != nil || v != 7 {
			t.Fatalf("Recv after a cancelled Recv: %d, %v", v, err)
		}
	})
}

func TestContractCloseDrainsThenReportsClosed(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		defer r.Close()
		_ = b.Push(1)
		b.Close()
		b.Close() // idempotent
		if err := b.Push(2); !errors.Is(err, ErrClosed) {
			t.Fatalf("Push after Close: got %v, want ErrClosed", err)
		}
		if v, err := r.TryRecv(); err != nil || v != 1 {
			t.Fatalf("value pushed before Close: got %d, %v", v, err)
		}
		if _, err := r.TryRecv(); !errors.Is(err, ErrClosed) {
			t.Fatalf("TryRecv on closed, drained buffer: got %v", err)
		}
		if _, err := recvWithin(t, r, time.Second); !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv on closed, drained buffer: got %v", err)
		}
	})
}

func TestContractCloseWakesParkedReader(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		defer r.Close()
		done := make(chan error, 1)
		go func() {
			_, err := recvWithin(t, r, 5*time.Second)
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		b.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("parked reader after Close: got %v, want ErrClosed", err)
		}
	})
}

func TestContractPeekIsNonDestructive(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		defer r.Close()
		_ = b.Push(5)
		for i := 0; i < 3; i++ {
			if v, ok := b.Peek(); !ok || v != 5 {
				t.Fatalf("Peek: %d, %v", v, ok)
			}
		}
		if v, err := r.TryRecv(); err != nil || v != 5 {
			t.Fatalf("TryRecv after Peek: %d, %v", v, err)
		}
		if v, ok := b.Peek(); !ok || v != 5 {
			t.Fatalf("Peek after the value was consumed: %d, %v", v, ok)
		}
	})
}

func TestContractReaderClose(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		r.Close()
		r.Close()
		if _, err := r.TryRecv(); !errors.Is(err, ErrClosed) {
			t.Fatalf("TryRecv on a closed reader: %v", err)
		}
		if _, err := r.Recv(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv on a closed reader: %v", err)
		}
		if n := b.Stats().Readers; n != 0 {
			t.Fatalf("readers after Close: %d", n)
		}
	})
}

// TestContractConcurrentOrder pushes increasing values while readers receive: every
// reader sees strictly increasing values (no duplicates, no reordering), and the
// values delivered plus the values reported lost add up.
func TestContractConcurrentOrder(t *testing.T) {
	const n = 20000
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		const readers = 3
		var wg sync.WaitGroup
		results := make([][]int, readers)
		missed := make([]uint64, readers)
		subs := make([]Reader[int], readers)
		for i := range subs {
			subs[i] = b.Subscribe()
		}
		for i := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer subs[i].Close()
				for {
					v, err := recvWithin(t, subs[i], 10*time.Second)
					var lag *LagError
					switch {
					case errors.As(err, &lag):
						missed[i] += lag.Missed
						continue
					case errors.Is(err, ErrClosed):
						return
					case err != nil:
						t.Errorf("reader %d: %v", i, err)
						return
					}
					results[i] = append(results[i], v)
				}
			}()
		}
		for i := 1; i <= n; i++ {
			_ = b.Push(i)
		}
		b.Close()
		wg.Wait()
		seen := map[int]bool{}
		for i, got := range results {
			for j := 1; j < len(got); j++ {
				if got[j] <= got[j-1] {
					t.Fatalf("reader %d: %d after %d", i, got[j], got[j-1])
				}
			}
			switch b.Spec().Kind {
			case KindSPMCRing:
				if uint64(len(got))+missed[i] != n {
					t.Fatalf("reader %d: %d received + %d missed != %d", i, len(got), missed[i], n)
				}
			case KindSingleLatest:
				if len(got) == 0 || got[len(got)-1] != n {
					t.Fatalf("reader %d did not end on the newest value", i)
				}
			case KindMailbox:
				for _, v := range got {
					if seen[v] {
						t.Fatalf("value %d delivered to two mailbox readers", v)
					}
					seen[v] = true
				}
			}
		}
		if b.Spec().Kind == KindMailbox && !seen[n] {
			t.Fatal("the last value never reached a mailbox reader")
		}
	})
}

func TestContractZeroAllocs(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		defer r.Close()
		ctx := context.Background()
		allocs := testing.AllocsPerRun(1000, func() {
			_ = b.Push(1)
			if _, err := r.Recv(ctx); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("push+recv allocates %.1f times per value", allocs)
		}
	})
}

func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		ok   bool
	}{
		{Spec{KindSPMCRing, 1}, true},
		{Spec{KindSPMCRing, 1024}, true},
		{Spec{KindSPMCRing, 0}, false},
		{Spec{KindSPMCRing, -3}, false},
		{Spec{KindSingleLatest, 0}, true},
		{Spec{KindMailbox, 1}, true},
		{Spec{KindMailbox, 4}, false},
		{Spec{Kind(9), 1}, false},
	} {
		err := tc.spec.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%v.Validate() = %v, want ok=%v", tc.spec, err, tc.ok)
		}
		if _, nerr := New[int](tc.spec); (nerr == nil) != tc.ok {
			t.Errorf("New(%v) = %v, want ok=%v", tc.spec, nerr, tc.ok)
		}
	}
	for _, name := range []string{"spmc_ring", "single_latest", "mailbox"} {
		k, err := ParseKind(name)
		if err != nil || k.String() != name {
			t.Errorf("ParseKind(%q) = %v, %v", name, k, err)
		}
	}
	if _, err := ParseKind("ring"); err == nil {
		t.Error("ParseKind accepted an unknown name")
	}
}

func TestContractReaderCloseFromAnotherGoroutine(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		done := make(chan error, 1)
		go func() {
			_, err := recvWithin(t, r, 5*time.Second)
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		r.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv after its reader was closed elsewhere: %v", err)
		}
	})
}

func TestContractNotifyCallsOncePerArming(t *testing.T) {
	eachBuffer(t, func(t *testing.T, b Buffer[int]) {
		r := b.Subscribe()
		defer r.Close()
		woken := make(chan struct{}, 4)
		wake := func() { woken <- struct{}{} }
		waitWoken := func(what string) {
			t.Helper()
			select {
			case <-woken:
			case <-time.After(5 * time.Second):
				t.Fatalf("wake not called after %s", what)
			}
		}
		if !r.Notify(wake) {
			t.Fatal("Notify on an empty buffer reported a value")
		}
		_ = b.Push(1)
		waitWoken("Push")
		if v, err := r.TryRecv(); err != nil || v != 1 {
			t.Fatalf("TryRecv after wake: %d, %v", v, err)
		}
		_ = b.Push(2) // not armed again: no call
		select {
		case <-woken:
			t.Fatal("wake called twice for one Notify")
		default:
		}
		if r.Notify(wake) {
			t.Fatal("Notify armed although a value waits")
		}
		if v, err := r.TryRecv(); err != nil || v != 2 {
			t.Fatalf("TryRecv of the waiting value: %d, %v", v, err)
		}
		if !r.Notify(wake) {
			t.Fatal("Notify on a drained reader reported a value")
		}
		b.Close()
		waitWoken("Close")
		if _, err := r.TryRecv(); !errors.Is(err, ErrClosed) {
			t.Fatalf("TryRecv after Close: %v, want ErrClosed", err)
		}
	})
}
