package seqload

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestCounterCountsEachKind(t *testing.T) {
	c := NewCounter(100)
	base := time.Unix(1000, 0)
	c.AddSent(10)
	// Arrivals: 0 1 3 2 2 5 4 9 (lost: 6 7 8; duplicate: 2; reordered: 2 and 4).
	for i, seq := range []uint64{0, 1, 3, 2, 2, 5, 4, 9} {
		p := Encode(ASCII, seq, base, 20)
		if err := c.ObserveAt(p, base.Add(time.Duration(i+1)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Observe([]byte("garbage")); err == nil {
		t.Error("Observe(garbage) returned no error")
	}
	c.ObserveSeq(100, base.UnixNano(), base) // at the capacity: out of range
	r := c.Report()
	want := Report{Sent: 10, Arrived: 7, Lost: 3, Duplicates: 1, Reordered: 2, Invalid: 1, OutOfRange: 1}
	got := r
	got.First, got.Last, got.Latency = time.Time{}, time.Time{}, Percentiles{}
	if got != want {
		t.Fatalf("report = %+v\nwant     %+v", got, want)
	}
	if !r.First.Equal(base.Add(time.Millisecond)) || !r.Last.Equal(base.Add(8*time.Millisecond)) {
		t.Errorf("first, last = %v, %v", r.First, r.Last)
	}
	// Latencies of first arrivals: 1 2 3 4 6 7 8 ms (the duplicate at 5 ms is not counted).
	wantLat := Percentiles{P50: 4 * time.Millisecond, P90: 8 * time.Millisecond, P99: 8 * time.Millisecond, Max: 8 * time.Millisecond}
	if r.Latency != wantLat {
		t.Errorf("latency = %+v, want %+v", r.Latency, wantLat)
	}
	if rate := r.Rate(); rate < 857 || rate > 858 { // 6 intervals in 7 ms
		t.Errorf("rate = %v, want 6/7ms", rate)
	}
	if c.Arrived() != 7 || !c.LastArrival().Equal(r.Last) {
		t.Errorf("Arrived, LastArrival = %d, %v", c.Arrived(), c.LastArrival())
	}
}

func TestCounterPercentilesNearestRank(t *testing.T) {
	c := NewCounter(1000)
	base := time.Unix(0, 0)
	for i := uint64(0); i < 1000; i++ { // latency of seq i is i+1 µs, arriving shuffled
		seq := (i * 7919) % 1000
		c.ObserveSeq(seq, 0, base.Add(time.Duration(seq+1)*time.Microsecond))
	}
	want := Percentiles{P50: 500 * time.Microsecond, P90: 900 * time.Microsecond, P99: 990 * time.Microsecond, Max: 1000 * time.Microsecond}
	if got := c.Report().Latency; got != want {
		t.Errorf("latency = %+v, want %+v", got, want)
	}
}

func TestCounterLostIsExactAcrossWords(t *testing.T) {
	c := NewCounter(1000)
	c.AddSent(130)
	for seq := uint64(0); seq < 130; seq++ {
		if seq != 63 && seq != 64 && seq != 129 {
			c.ObserveSeq(seq, 0, time.Unix(0, 0))
		}
	}
	c.ObserveSeq(500, 0, time.Unix(0, 0)) // above Sent: arrived, but does not hide a loss
	if r := c.Report(); r.Lost != 3 || r.Arrived != 128 {
		t.Errorf("lost, arrived = %d, %d, want 3, 128", r.Lost, r.Arrived)
	}
	if r := NewCounter(0).Report(); r != (Report{}) {
		t.Errorf("empty counter report = %+v", r)
	}
}

func TestCounterConcurrent(t *testing.T) {
	const workers, each = 8, 5000
	c := NewCounter(workers * each)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				seq := uint64(w*each + i)
				c.AddSent(1)
				_ = c.Observe(Encode(JSON, seq, time.Now(), 40))
				if i%10 == 0 {
					c.ObserveSeq(seq, 0, time.Now()) // a duplicate
				}
				if i%1000 == 0 {
					_ = c.Report()
				}
			}
		}()
	}
	wg.Wait()
	r := c.Report()
	if r.Sent != workers*each || r.Arrived != workers*each || r.Lost != 0 || r.Duplicates != workers*each/10 {
		t.Errorf("report = %+v", r)
	}
}

func TestCounterWait(t *testing.T) {
	c := NewCounter(10)
	go func() {
		for seq := uint64(0); seq < 10; seq++ {
			time.Sleep(2 * time.Millisecond)
			c.ObserveSeq(seq, 0, time.Now())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !c.Wait(ctx, 10, 2*time.Second) {
		t.Fatalf("Wait returned false with %d arrived", c.Arrived())
	}
	start := time.Now()
	if c.Wait(ctx, 11, 50*time.Millisecond) {
		t.Fatal("Wait for 11 of 10 returned true")
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("quiet wait took %v, want about 50ms", d)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if c.Wait(cancelled, 11, time.Hour) {
		t.Fatal("Wait with an ended context returned true")
	}
}
