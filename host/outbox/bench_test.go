package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// The comparative benchmark of the stores: the one that ships (bolt-file-per-link)
// and those in altstore_test.go, side by side in one run. See BENCHMARKS.md.
//
//	nice -n -5 go test -run '^$' -bench . -benchtime 2s ./host/outbox/

const benchValueSize = 100

func openBenchDir(b *testing.B, newBackend func(string, hclog.Logger) backend) *Dir {
	b.Helper()
	d, err := openDir(b.TempDir(), nil, newBackend)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := d.Close(); err != nil {
			b.Error(err)
		}
	})
	return d
}

// BenchmarkOutbox/<store>/links=L/batch=B: L links each append b.N/L values of 100 B
// in Appends of B values (fsync'd each), while a publisher per link reads them as they
// come (Wait, Read up to 4096) and removes what it read. values/s is the rate at which
// values went through append + read + remove, for all links together.
func BenchmarkOutbox(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for _, links := range []int{1, 4} {
				for _, batch := range []int{1, 8, 64, 512} {
					b.Run(fmt.Sprintf("links=%d/batch=%d", links, batch), func(b *testing.B) {
						benchThroughput(b, be.new, links, batch)
					})
				}
			}
		})
	}
}

func benchThroughput(b *testing.B, newBackend func(string, hclog.Logger) backend, links, batch int) {
	d := openBenchDir(b, newBackend)
	per := max(b.N/links, batch)
	payloads := make([][]byte, batch)
	for i := range payloads {
		payloads[i] = make([]byte, benchValueSize)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 2*links)
	obs := make([]*Outbox, links)
	for l := range obs {
		obs[l] = openT(b, d, fmt.Sprintf("bench.record%d -> test://sink/%d", l, l), Options{})
	}
	b.ResetTimer()
	start := time.Now()
	for _, o := range obs {
		wg.Add(2)
		freed := make(chan struct{}, 1)
		go func() { // appender
			defer wg.Done()
			for n := 0; n < per; {
				k := min(batch, per-n)
				_, err := o.Append(payloads[:k])
				if errors.Is(err, ErrFull) {
					<-freed
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				n += k
			}
		}()
		go func() { // publisher
			defer wg.Done()
			var after uint64
			for after < uint64(per) {
				es, err := o.Read(after, 4096, 1<<20)
				if err != nil {
					errc <- err
					return
				}
				if len(es) == 0 {
					<-o.Wait()
					continue
				}
				after = es[len(es)-1].Seq
				if err := o.Remove(after); err != nil {
					errc <- err
					return
				}
				select {
				case freed <- struct{}{}:
				default:
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	b.ReportMetric(float64(per*links)/elapsed.Seconds(), "values/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(per*links), "ns/value")
}

// BenchmarkOutboxLatency/<store>: one link paced at 10,000 values/s of 100 B for 3 s.
// A producer hands each value, stamped with its due time, to the link's appender,
// which appends everything that waits (up to 512 values) in one fsync'd Append; the
// publisher reads as in BenchmarkOutbox. Latency is from the due time to the
// publisher holding the value: p50, p99, max in µs. "channel" is the same pipeline with
// a Go channel in place of the outbox: what the pacing and goroutines cost alone.
func BenchmarkOutboxLatency(b *testing.B) {
	const rate, dur = 10_000, 3 * time.Second
	b.Run("channel", func(b *testing.B) {
		for range b.N {
			lat := pacedLatency(b, nil, rate, dur)
			reportLatency(b, lat)
		}
	})
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for range b.N {
				d := openBenchDir(b, be.new)
				o := openT(b, d, "latency -> test://sink", Options{})
				lat := pacedLatency(b, o, rate, dur)
				reportLatency(b, lat)
			}
		})
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e3 }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(1), "max-µs")
	b.ReportMetric(0, "ns/op")
}

// pacedLatency runs the paced pipeline through o (nil: a channel) and returns the
// latency of every value.
func pacedLatency(b *testing.B, o *Outbox, rate int, dur time.Duration) []time.Duration {
	total := int(float64(rate) * dur.Seconds())
	interval := time.Second / time.Duration(rate)
	due := make(chan int64, total)
	direct := make(chan int64, total)
	lat := make([]time.Duration, 0, total)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // appender
		defer wg.Done()
		ps := make([][]byte, 512)
		for i := range ps {
			ps[i] = make([]byte, benchValueSize)
		}
		for n := 0; n < total; {
			binary.BigEndian.PutUint64(ps[0], uint64(<-due))
			k := 1
		fill: // everything that waits, up to 512 values
			for k < len(ps) && n+k < total {
				select {
				case t := <-due:
					binary.BigEndian.PutUint64(ps[k], uint64(t))
					k++
				default:
					break fill
				}
			}
			n += k
			if o == nil {
				for _, p := range ps[:k] {
					direct <- int64(binary.BigEndian.Uint64(p))
				}
				continue
			}
			if _, err := o.Append(ps[:k]); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() { // publisher
		defer wg.Done()
		if o == nil {
			for range total {
				t := <-direct
				lat = append(lat, time.Duration(time.Now().UnixNano()-t))
			}
			return
		}
		var after uint64
		for len(lat) < total {
			es, err := o.Read(after, 4096, 1<<20)
			if err != nil {
				errc <- err
				return
			}
			if len(es) == 0 {
				<-o.Wait()
				continue
			}
			now := time.Now().UnixNano()
			for _, e := range es {
				lat = append(lat, time.Duration(now-int64(binary.BigEndian.Uint64(e.Payload))))
			}
			after = es[len(es)-1].Seq
			if err := o.Remove(after); err != nil {
				errc <- err
				return
			}
		}
	}()
	start := time.Now()
	for i := range total {
		t := start.Add(time.Duration(i) * interval)
		if d := time.Until(t); d > 0 {
			time.Sleep(d)
		}
		due <- t.UnixNano()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	return lat
}
