package buffer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestMailboxOverwritesUnreadValue(t *testing.T) {
	b := NewMailbox[int]()
	r := b.Subscribe()
	_ = b.Push(1)
	_ = b.Push(2)
	if got := mustRecv(t, r); got != 2 {
		t.Fatalf("got %d, want newest 2", got)
	}
	if _, err := r.TryRecv(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("value delivered twice: %v", err)
	}
	if st := b.Stats(); st.Dropped != 1 || st.Consumed != 1 || st.Occupancy != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMailboxCompetingReadersEachValueOnce(t *testing.T) {
	b := NewMailbox[int]()
	const readers, n = 4, 2000
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
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
				if err != nil {
					return
				}
				mu.Lock()
				got[v]++
				mu.Unlock()
			}
		}()
	}
	// Push one value at a time and wait until someone took it, so nothing is overwritten.
	for i := 0; i < n; i++ {
		_ = b.Push(i)
		for deadline := time.Now().Add(5 * time.Second); b.Stats().Occupancy != 0; {
			if time.Now().After(deadline) {
				t.Fatalf("value %d never taken", i)
			}
			time.Sleep(10 * time.Microsecond)
		}
	}
	b.Close()
	wg.Wait()
	for i := 0; i < n; i++ {
		if got[i] != 1 {
			t.Fatalf("value %d delivered %d times", i, got[i])
		}
	}
	if st := b.Stats(); st.Consumed != n || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A reader that gave up waiting does not keep a later value from the reader still waiting.
func TestMailboxCancelledReaderDoesNotStrandValues(t *testing.T) {
	b := NewMailbox[int]()
	defer b.Close()
	quitter, worker := b.Subscribe(), b.Subscribe()
	defer worker.Close()
	ctx, cancel := context.WithCancel(context.Background())
	quit := make(chan struct{})
	go func() { _, _ = quitter.Recv(ctx); close(quit) }()
	got := make(chan int, 1)
	go func() {
		v, err := recvWithin(t, worker, 5*time.Second)
		if err != nil {
			v = -1
		}
		got <- v
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	<-quit
	quitter.Close()
	_ = b.Push(9)
	if v := <-got; v != 9 {
		t.Fatalf("worker got %d, want 9", v)
	}
}
