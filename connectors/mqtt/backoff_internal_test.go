package mqtt

import (
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	min, max := 100*time.Millisecond, 2*time.Second
	for n, want := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000} {
		want *= time.Millisecond
		if n == 6 {
			n = 60 // far past the cap, no overflow
		}
		distinct := map[time.Duration]bool{}
		for range 50 {
			d := backoff(n, min, max)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
			distinct[d] = true
		}
		if len(distinct) < 10 {
			t.Errorf("backoff(%d) has no jitter: %d distinct values in 50", n, len(distinct))
		}
	}
}

func TestDefaultClientIDIsUniquePerInstance(t *testing.T) {
	a, b := defaultClientID("plant a/1"), defaultClientID("plant a/1")
	if a == b || a[:len("aimdb-plant_a_1-")] != "aimdb-plant_a_1-" {
		t.Fatalf("client ids %q and %q", a, b)
	}
}
