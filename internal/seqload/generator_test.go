package seqload

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGeneratorBurstSendsCountInOrder(t *testing.T) {
	c := NewCounter(1000)
	var got []uint64
	g := Generator{Format: ASCII, Size: 100, Count: 1000, Counter: c, Publish: func(seq uint64, p []byte) error {
		if len(p) != 100 {
			t.Fatalf("payload of %d bytes, want 100", len(p))
		}
		got = append(got, seq)
		seqN, ts, _ := Decode(p)
		c.ObserveSeq(seqN, ts, time.Now())
		return nil
	}}
	n, err := g.Run(context.Background())
	if err != nil || n != 1000 || len(got) != 1000 {
		t.Fatalf("Run = %d, %v with %d published", n, err, len(got))
	}
	for i, seq := range got {
		if seq != uint64(i) {
			t.Fatalf("payload %d has sequence number %d", i, seq)
		}
	}
	if r := c.Report(); r.Sent != 1000 || r.Lost != 0 || r.Reordered != 0 {
		t.Errorf("report = %+v", r)
	}
}

func TestGeneratorPaced(t *testing.T) {
	g := Generator{Count: 50, Rate: 500, FirstSeq: 10, Publish: func(uint64, []byte) error { return nil }}
	start := time.Now()
	n, err := g.Run(context.Background())
	d := time.Since(start)
	// 50 payloads at 500/s: the last is due 98 ms after the first.
	if err != nil || n != 50 || d < 95*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Run = %d, %v in %v; want 50 in about 98ms", n, err, d)
	}
}

func TestGeneratorStops(t *testing.T) {
	nop := func(uint64, []byte) error { return nil }
	g := Generator{Count: 1 << 40, Rate: 1000, Duration: 30 * time.Millisecond, Publish: nop}
	n, err := g.Run(context.Background())
	if err != nil || n == 0 || n > 100 {
		t.Errorf("Duration stop: Run = %d, %v; want about 30", n, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	g = Generator{Count: 1 << 40, Rate: 1000, Publish: nop}
	if n, err := g.Run(ctx); !errors.Is(err, context.DeadlineExceeded) || n > 100 {
		t.Errorf("context stop: Run = %d, %v", n, err)
	}

	boom := errors.New("boom")
	g = Generator{Count: 10, Publish: func(seq uint64, _ []byte) error {
		if seq == 3 {
			return boom
		}
		return nil
	}}
	if n, err := g.Run(context.Background()); !errors.Is(err, boom) || n != 3 {
		t.Errorf("publish error: Run = %d, %v", n, err)
	}

	for _, bad := range []Generator{{Publish: nop}, {Count: 1}, {Count: 1, Rate: -1, Publish: nop}} {
		if _, err := bad.Run(context.Background()); err == nil {
			t.Errorf("Run of %+v returned no error", bad)
		}
	}
}
