package buffer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestRingHoldingReaderRefusesOverwrite(t *testing.T) {
	b := NewRing[int](4)
	h, ok := b.SubscribeHolding()
	if !ok {
		t.Fatal("a ring must be able to hold")
	}
	free := b.Subscribe() // a plain reader neither holds nor is held
	for i := 0; i < 4; i++ {
		if err := b.Push(i); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	if err := b.Push(4); !errors.Is(err, ErrFull) {
		t.Fatalf("fifth push into a full ring held by an unread reader: got %v, want ErrFull", err)
	}
	for want := 0; want < 4; want++ {
		if got := mustRecv(t, free); got != want {
			t.Fatalf("plain reader: got %d, want %d", got, want)
		}
	}
	// Reading alone makes no room: the values are in flight until released.
	for want := 0; want < 4; want++ {
		if got := mustRecv(t, h); got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	}
	if err := b.Push(4); !errors.Is(err, ErrFull) {
		t.Fatalf("push after reads but before release: got %v, want ErrFull", err)
	}
	room := b.Room()
	h.Release(2)
	select {
	case <-room:
	default:
		t.Fatal("Room was not signalled by Release")
	}
	for i := 4; i < 6; i++ {
		if err := b.Push(i); err != nil {
			t.Fatalf("push %d after releasing two: %v", i, err)
		}
	}
	if err := b.Push(6); !errors.Is(err, ErrFull) {
		t.Fatalf("push beyond the released room: got %v, want ErrFull", err)
	}
	if st := b.Stats(); st.Refused != 3 {
		t.Fatalf("Refused = %d, want 3", st.Refused)
	}
	// The plain reader saw every value pushed, none was overwritten under it.
	for want := 4; want < 6; want++ {
		if got := mustRecv(t, free); got != want {
			t.Fatalf("plain reader: got %d, want %d", got, want)
		}
	}
	if free.Dropped() != 0 || h.Dropped() != 0 {
		t.Fatalf("dropped: plain %d, holding %d; want 0", free.Dropped(), h.Dropped())
	}
}

func TestRingClosingHolderMakesRoom(t *testing.T) {
	b := NewRing[int](2)
	h, _ := b.SubscribeHolding()
	_ = b.Push(1)
	_ = b.Push(2)
	if err := b.Push(3); !errors.Is(err, ErrFull) {
		t.Fatalf("got %v, want ErrFull", err)
	}
	room := b.Room()
	h.Close()
	select {
	case <-room:
	case <-time.After(time.Second):
		t.Fatal("closing the holder did not signal Room")
	}
	if err := b.Push(3); err != nil {
		t.Fatalf("push after the holder closed: %v", err)
	}
}

func TestRingCloseSignalsRoom(t *testing.T) {
	b := NewRing[int](1)
	h, _ := b.SubscribeHolding()
	defer h.Close()
	_ = b.Push(1)
	room := b.Room()
	b.Close()
	select {
	case <-room:
	case <-time.After(time.Second):
		t.Fatal("Close did not signal Room")
	}
	if err := b.Push(2); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after close: %v", err)
	}
}

func TestOnlyRingsHold(t *testing.T) {
	for _, b := range []Buffer[int]{NewLatest[int](), NewMailbox[int]()} {
		r, ok := b.SubscribeHolding()
		if ok {
			t.Fatalf("%s claims to hold", b.Spec())
		}
		for i := 0; i < 10; i++ {
			if err := b.Push(i); err != nil {
				t.Fatalf("%s: push %d: %v", b.Spec(), i, err)
			}
		}
		select {
		case <-b.Room():
		default:
			t.Fatalf("%s: Room of a buffer that is never full must be closed", b.Spec())
		}
		if v := mustRecv(t, r); v != 9 {
			t.Fatalf("%s: got %d, want the newest value 9", b.Spec(), v)
		}
		if d := r.Dropped(); d == 0 {
			t.Fatalf("%s: the nine overwritten values were not counted as dropped", b.Spec())
		}
		r.Close()
		b.Close()
	}
}

// A producer that waits on Room when refused and a holding reader that releases in
// batches move every value exactly once, in order, with a ring far smaller than the stream.
func TestRingHoldingBackPressureLosesNothing(t *testing.T) {
	const n = 200_000
	b := NewRing[int](16)
	h, _ := b.SubscribeHolding()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; {
			room := b.Room()
			err := b.Push(i)
			switch {
			case err == nil:
				i++
			case errors.Is(err, ErrFull):
				select {
				case <-room:
				case <-ctx.Done():
					return
				}
			default:
				t.Errorf("push %d: %v", i, err)
				return
			}
		}
	}()
	unreleased := 0
	for want := 0; want < n; want++ {
		v, err := h.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d values: %v", want, err)
		}
		if v != want {
			t.Fatalf("got %d, want %d (lost or reordered)", v, want)
		}
		if unreleased++; unreleased == 5 || want == n-1 {
			h.Release(unreleased)
			unreleased = 0
		}
	}
	wg.Wait()
	if st := b.Stats(); st.Produced != n || st.Dropped != 0 {
		t.Fatalf("produced %d dropped %d, want %d and 0", st.Produced, st.Dropped, n)
	}
	h.Close()
	b.Close()
}
