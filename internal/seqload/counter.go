package seqload

import (
	"context"
	"math/bits"
	"slices"
	"sync"
	"time"
)

// Counter observes arriving payloads and counts them exactly by sequence number. It
// tracks sequence numbers 0 to capacity-1 in a bitmap; anything else is counted as
// out of range. All methods are safe for concurrent use.
type Counter struct {
	mu         sync.Mutex
	capacity   uint64
	seen       []uint64 // bitmap, one bit per sequence number
	sent       uint64
	unique     uint64
	dups       uint64
	reordered  uint64
	invalid    uint64
	outOfRange uint64
	highest    uint64
	any        bool
	first      time.Time
	last       time.Time
	latencies  []time.Duration
}

// NewCounter returns a Counter for sequence numbers 0 to capacity-1.
func NewCounter(capacity uint64) *Counter {
	return &Counter{
		capacity:  capacity,
		seen:      make([]uint64, (capacity+63)/64),
		latencies: make([]time.Duration, 0, min(capacity, 1<<20)),
	}
}

// AddSent records that n more payloads were sent (a Generator does this itself).
func (c *Counter) AddSent(n uint64) {
	c.mu.Lock()
	c.sent += n
	c.mu.Unlock()
}

// Observe decodes a payload that arrived now and counts it. A payload that does not
// decode is counted as invalid and its error returned.
func (c *Counter) Observe(p []byte) error {
	return c.ObserveAt(p, time.Now())
}

// ObserveAt is Observe for a payload that arrived at the given time.
func (c *Counter) ObserveAt(p []byte, at time.Time) error {
	seq, sent, err := Decode(p)
	if err != nil {
		c.mu.Lock()
		c.invalid++
		c.mu.Unlock()
		return err
	}
	c.ObserveSeq(seq, sent, at)
	return nil
}

// ObserveSeq counts an already decoded payload: sequence number seq, sent at sentNano
// (Unix nanoseconds), arrived at at.
//
// A sequence number seen before is a duplicate; one lower than the highest seen so far
// (and not a duplicate) is reordered. Latency is recorded for first arrivals only.
func (c *Counter) ObserveSeq(seq uint64, sentNano int64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq >= c.capacity {
		c.outOfRange++
		return
	}
	word, bit := seq/64, uint64(1)<<(seq%64)
	if c.seen[word]&bit != 0 {
		c.dups++
		return
	}
	c.seen[word] |= bit
	c.unique++
	if c.any && seq < c.highest {
		c.reordered++
	}
	if !c.any || seq > c.highest {
		c.highest = seq
	}
	if !c.any {
		c.first = at
	}
	c.any = true
	c.last = at
	c.latencies = append(c.latencies, max(at.Sub(time.Unix(0, sentNano)), 0))
}

// Arrived returns how many distinct sequence numbers have arrived so far.
func (c *Counter) Arrived() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unique
}

// LastArrival returns the arrival time of the latest first arrival (zero before any).
func (c *Counter) LastArrival() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Wait blocks until want distinct payloads have arrived, or nothing new arrived for
// quiet (counted from the call or the latest arrival, whichever is later), or ctx
// ends. It reports whether all want arrived. It polls every millisecond.
func (c *Counter) Wait(ctx context.Context, want uint64, quiet time.Duration) bool {
	since := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		got, last := c.unique, c.last
		c.mu.Unlock()
		if got >= want {
			return true
		}
		if last.After(since) {
			since = last
		}
		if time.Since(since) >= quiet {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// Report is a snapshot of a Counter.
type Report struct {
	// Sent is the number of payloads reported sent (AddSent).
	Sent uint64
	// Arrived is the number of distinct sequence numbers that arrived.
	Arrived uint64
	// Lost is the number of sequence numbers below Sent that never arrived.
	Lost uint64
	// Duplicates counts arrivals of a sequence number seen before.
	Duplicates uint64
	// Reordered counts first arrivals lower than the highest sequence number seen before.
	Reordered uint64
	// Invalid counts payloads that did not decode.
	Invalid uint64
	// OutOfRange counts sequence numbers at or above the Counter's capacity.
	OutOfRange uint64
	// First and Last are the times of the first and the latest first arrival.
	First, Last time.Time
	// Latency holds the send-to-arrival percentiles of first arrivals.
	Latency Percentiles
}

// Percentiles are latency percentiles by the nearest-rank method.
type Percentiles struct {
	// P50, P90 and P99 are the 50th, 90th and 99th percentiles; Max is the largest.
	P50, P90, P99, Max time.Duration
}

// Rate is the arrival rate in messages per second from the first to the last arrival
// (zero with fewer than two arrivals).
func (r Report) Rate() float64 {
	d := r.Last.Sub(r.First)
	if r.Arrived < 2 || d <= 0 {
		return 0
	}
	return float64(r.Arrived-1) / d.Seconds()
}

// Report returns the counts so far. Lost is exact: it counts the clear bits below
// Sent (capped at the capacity).
func (c *Counter) Report() Report {
	c.mu.Lock()
	r := Report{
		Sent: c.sent, Arrived: c.unique, Duplicates: c.dups, Reordered: c.reordered,
		Invalid: c.invalid, OutOfRange: c.outOfRange, First: c.first, Last: c.last,
	}
	upTo := min(c.sent, c.capacity)
	var present uint64
	for w := uint64(0); w < upTo/64; w++ {
		present += uint64(bits.OnesCount64(c.seen[w]))
	}
	if rem := upTo % 64; rem != 0 {
		present += uint64(bits.OnesCount64(c.seen[upTo/64] & (1<<rem - 1)))
	}
	r.Lost = upTo - present
	lat := slices.Clone(c.latencies)
	c.mu.Unlock()
	r.Latency = percentiles(lat)
	return r
}

func percentiles(lat []time.Duration) Percentiles {
	if len(lat) == 0 {
		return Percentiles{}
	}
	slices.Sort(lat)
	n := len(lat)
	rank := func(pct int) time.Duration { // nearest rank: ceil(pct*n/100), 1-based
		return lat[max((pct*n+99)/100, 1)-1]
	}
	return Percentiles{P50: rank(50), P90: rank(90), P99: rank(99), Max: lat[n-1]}
}
