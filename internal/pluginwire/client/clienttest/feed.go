// Package clienttest feeds a plugin's data stream from tests and benchmarks the way
// the host's link pumps do.
package clienttest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"
)

// Feed publishes numbered payloads to one link of instance 1 in batches, keeping at
// most pluginwire.MaxBatchesInFlight batches in flight, as a link's pump does. It is
// a client.Feed.
type Feed struct {
	data     *client.Data
	link     uint32
	total    int
	batch    int
	payloads func(from, n int) [][]byte

	mu       sync.Mutex
	cut      int
	inflight int
	done     atomic.Int64
	failed   atomic.Int64
	finished chan struct{}
}

// NewFeed returns a feed of total payloads to link on d, batch at a time;
// payloads(from, n) returns the n payloads numbered from on.
func NewFeed(d *client.Data, link uint32, total, batch int, payloads func(from, n int) [][]byte) *Feed {
	return &Feed{data: d, link: link, total: total, batch: batch, payloads: payloads, finished: make(chan struct{})}
}

// Run starts the feed and waits up to timeout for the result of every payload; it
// returns how many failed.
func (f *Feed) Run(timeout time.Duration) (failed int, err error) {
	if err := f.data.Ready(f); err != nil {
		return 0, err
	}
	select {
	case <-f.finished:
		return int(f.failed.Load()), nil
	case <-time.After(timeout):
		return int(f.failed.Load()), fmt.Errorf("%d of %d publish results within %v", f.done.Load(), f.total, timeout)
	}
}

// Cut returns the next batch (client.Feed).
func (f *Feed) Cut(maxMsgs, _ int) (client.Batch, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut >= f.total || f.inflight >= pluginwire.MaxBatchesInFlight {
		return client.Batch{}, false
	}
	from := f.cut
	n := min(f.batch, maxMsgs, f.total-from)
	f.cut += n
	f.inflight++
	return client.Batch{Instance: 1, Link: f.link, Payloads: f.payloads(from, n), Done: func(fs []client.Failure) {
		f.failed.Add(int64(len(fs)))
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
		if f.done.Add(int64(n)) == int64(f.total) {
			close(f.finished)
			return
		}
		_ = f.data.Ready(f)
	}}, true
}

// Abandon is called when the stream died with the feed ready (client.Feed); the
// benchmark's Run then times out.
func (f *Feed) Abandon(error) {}
