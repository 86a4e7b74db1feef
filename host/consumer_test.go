package host

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestConsumerLagAndLateJoin(t *testing.T) {
	b := NewBuilder()
	Configure[int](b, "r", func(r *Registrar[int]) { r.SPMCRing(4) })
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, _ := ProducerOf[int](db, "r")
	early, _ := ConsumerOf[int](db, "r")
	defer early.Close()
	for i := 0; i < 10; i++ {
		_ = p.Produce(i)
	}
	late, _ := ConsumerOf[int](db, "r")
	defer late.Close()
	if _, err := late.TryRecv(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("late consumer saw an old value: %v", err)
	}
	var lag *LagError
	if _, err := early.TryRecv(); !errors.As(err, &lag) || lag.Missed != 6 {
		t.Fatalf("early consumer: %v, want lag of 6", err)
	}
	for want := 6; want < 10; want++ {
		if got := recv(t, early); got != want {
			t.Fatalf("after lag got %d, want %d", got, want)
		}
	}
	_ = p.Produce(10)
	if got := recv(t, late); got != 10 {
		t.Fatalf("late consumer got %d, want 10", got)
	}
	info, _ := db.Record("r")
	if info.Stats.Lagged != 1 || info.Stats.Dropped != 6 || info.Stats.Consumers != 2 || info.Stats.Produced != 11 {
		t.Fatalf("stats %+v", info.Stats)
	}
}

func TestMailboxConsumersCompete(t *testing.T) {
	b := NewBuilder()
	Configure[int](b, "cmd", func(r *Registrar[int]) { r.Mailbox() })
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ProducerOf[int](db, "cmd")
	const n = 500
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		c, _ := ConsumerOf[int](db, "cmd")
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for {
				v, err := c.Recv(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				counts[v]++
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		_ = p.Produce(i)
		eventually(t, "the value to be taken", func() bool {
			info, _ := db.Record("cmd")
			return info.Stats.Occupancy == 0
		})
	}
	_ = db.Close()
	wg.Wait()
	for i := 0; i < n; i++ {
		if counts[i] != 1 {
			t.Fatalf("command %d handled %d times", i, counts[i])
		}
	}
}
