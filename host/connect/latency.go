package connect

import (
	"math/bits"
	"sort"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// LatencyBuckets is the number of buckets of a publish latency histogram: bucket k
// counts values confirmed within 2^k µs (and over 2^(k-1) µs); the last bucket
// counts every slower one (over 2^(LatencyBuckets-2) µs, about 34 s).
const LatencyBuckets = 27

// clockBase is the origin of the pump's monotonic timestamps.
var clockBase = time.Now()

// monotime is the time since clockBase on the monotonic clock.
func monotime() time.Duration { return time.Since(clockBase) }

// latency is one link's publish latency histogram, guarded by its pump's mu.
type latency struct {
	counts [LatencyBuckets]uint64
	sum    time.Duration
}

// observe counts one value confirmed d after it was read.
func (l *latency) observe(d time.Duration) {
	k := 0
	if d > 0 {
		k = min(bits.Len64(uint64((d-1)/time.Microsecond)), LatencyBuckets-1)
	}
	l.counts[k]++
	l.sum += d
}

// LinkLatency is a link_to's publish latency histogram: the time from its pump
// reading a value out of the record (or disk outbox) to the connector confirming it.
// While the link keeps up, that is the time from produce to confirmed; values that
// waited in the record behind a slow link count from when the link read them.
type LinkLatency struct {
	ID int
	// Counts[k] counts values confirmed within 2^k µs (and over 2^(k-1) µs); the
	// last bucket counts every slower one. Not cumulative.
	Counts [LatencyBuckets]uint64
	// Sum is the total of every latency counted.
	Sum time.Duration
}

// PublishLatencies returns every link_to's publish latency histogram, in link id
// order.
func (s *Service) PublishLatencies() []LinkLatency {
	s.mu.Lock()
	pumps := append([]*pump(nil), s.pumps...)
	s.mu.Unlock()
	out := make([]LinkLatency, len(pumps))
	for i, p := range pumps {
		p.mu.Lock()
		out[i] = LinkLatency{ID: p.info.ID, Counts: p.lat.counts, Sum: p.lat.sum}
		p.mu.Unlock()
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// failedKinds counts a link's failed attempts by error kind, guarded by its pump's mu.
type failedKinds [16]uint64

// count adds one failure of err's kind.
func (f *failedKinds) count(err error) {
	k := int(sdk.KindOf(err))
	if k >= len(f) {
		k = int(sdk.KindUnknown)
	}
	f[k]++
}

// byName returns the non-zero counts by kind name, nil when there are none.
func (f *failedKinds) byName() map[string]uint64 {
	var m map[string]uint64
	for k, n := range f {
		if n > 0 {
			if m == nil {
				m = map[string]uint64{}
			}
			m[sdk.ErrorKind(k).String()] = n
		}
	}
	return m
}
