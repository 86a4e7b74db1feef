package knx

import (
	"context"
	"testing"
	"time"
)

// TestPacerSpacesSends checks the bus rate limit with a fake clock: at 50 telegrams/s
// sends are at least 20 ms apart, and idle time is not saved up for bursts.
func TestPacerSpacesSends(t *testing.T) {
	now := time.Unix(0, 0)
	var slept []time.Duration
	p := newPacer(50)
	p.now = func() time.Time { return now }
	p.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	for i := 0; i < 4; i++ {
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if want := []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}; len(slept) != 3 ||
		slept[0] != want[0] || slept[1] != want[1] || slept[2] != want[2] {
		t.Fatalf("slept %v, want %v", slept, want)
	}
	now = now.Add(time.Second) // idle
	slept = nil
	p.wait(context.Background())
	p.wait(context.Background())
	if len(slept) != 1 || slept[0] != 20*time.Millisecond {
		t.Fatalf("after idle slept %v, want one 20ms wait", slept)
	}
	if err := newPacer(0).wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPacerHonoursContext(t *testing.T) {
	p := newPacer(1)
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.wait(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := p.wait(ctx); err == nil {
		t.Fatal("wait with a cancelled context must fail while paced")
	}
}

// TestRoutingBusyPausesSends checks that ROUTING_BUSY sets a pause of at least the
// requested wait time, and that repeated busy frames lengthen the random part.
func TestRoutingBusyPausesSends(t *testing.T) {
	r := newRouting(settings{rateLimit: 50}, testLogger(t), nil)
	start := time.Now()
	r.busy(100 * time.Millisecond)
	if d := r.busyUntil.Sub(start); d < 100*time.Millisecond || d > 160*time.Millisecond {
		t.Fatalf("pause %s after one busy frame, want 100..150ms", d)
	}
	r.busy(10 * time.Millisecond) // a shorter wait never shortens the pause
	if d := r.busyUntil.Sub(start); d < 100*time.Millisecond {
		t.Fatalf("pause shrank to %s", d)
	}
	if r.busyCount != 2 {
		t.Fatalf("busyCount %d, want 2", r.busyCount)
	}
}
