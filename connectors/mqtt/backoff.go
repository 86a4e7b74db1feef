package mqtt

import (
	"math/rand/v2"
	"time"
)

// backoff returns the delay before reconnect attempt n (0-based): min doubled n
// times, capped at max, with "equal jitter" (a random point in its upper half) so
// that many clients cut off together do not reconnect in lockstep.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func randUint32() uint32 { return rand.Uint32() }
