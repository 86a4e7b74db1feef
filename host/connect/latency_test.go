package connect

import (
	"testing"
	"time"
)

// TestLatencyBuckets: bucket k holds latencies within 2^k µs and over 2^(k-1) µs; the
// last one everything slower.
func TestLatencyBuckets(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {time.Microsecond, 0}, {time.Microsecond + 1, 1}, {2 * time.Microsecond, 1},
		{3 * time.Microsecond, 2}, {time.Millisecond, 10}, {1024 * time.Microsecond, 10},
		{1025 * time.Microsecond, 11}, {time.Hour, LatencyBuckets - 1},
	} {
		var l latency
		l.observe(c.d)
		if l.counts[c.want] != 1 || l.sum != c.d {
			t.Errorf("%v: counts %v, want bucket %d", c.d, l.counts, c.want)
		}
	}
}

// BenchmarkLatencyObserve is the histogram's cost per confirmed value (the pump adds
// it under a lock it holds anyway, plus one clock read per burst of values read).
func BenchmarkLatencyObserve(b *testing.B) {
	var l latency
	for i := 0; b.Loop(); i++ {
		l.observe(time.Duration(i) * 977 * time.Nanosecond)
	}
}

// BenchmarkMonotime is the clock read the pump takes per burst of values it reads.
func BenchmarkMonotime(b *testing.B) {
	var d time.Duration
	for b.Loop() {
		d += monotime()
	}
	_ = d
}
