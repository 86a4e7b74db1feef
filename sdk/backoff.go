package sdk

import (
	"math/rand/v2"
	"time"
)

// Backoff computes exponential delays with jitter for retries and reconnects: the
// delay before attempt n (0-based) is Min doubled n times, capped at Max, and then
// drawn at random from its upper half ("equal jitter"), so many clients cut off
// together do not come back in lockstep. The zero value waits 100 ms up to 30 s.
type Backoff struct {
	// Min is the first delay (default 100 ms).
	Min time.Duration
	// Max caps the delay (default 30 s).
	Max time.Duration
}

// Delay returns the delay before attempt n.
func (b Backoff) Delay(n int) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	if hi < lo {
		hi = lo
	}
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}
