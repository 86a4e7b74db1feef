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

// The comparative benchmark of the stores: the one that ships (bolt-shared) and those
// in altstore_test.go, side by side in one run. Figures in docs/benchmarks.md ("Disk outbox").
//
//	nice -n -5 go test -run '^$' -bench . -benchtime 2s ./host/outbox/

const benchValueSize = 100

func openBenchDir(b *testing.B, newBackend func(string, hclog.Logger) (backend, error)) *Dir {
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

func benchThroughput(b *testing.B, newBackend func(string, hclog.Logger) (backend, error), links, batch int) {
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
	reportCommits(b, d, per*links)
}

// BenchmarkOutboxLatency/<store>/links=L: 10,000 values/s of 100 B for 3 s in all,
// spread over L links. Per link, a producer hands each value, stamped with the time
// it hands it over, to the link's appender, which appends everything that waits (up
// to 512 values) in one fsync'd Append; the publisher reads as in BenchmarkOutbox.
// Latency is from the hand-over to the publisher holding the value: p50, p99, max in
// µs. "channel" is the same pipeline with a Go channel in place of the outbox: what
// the pacing and goroutines cost alone.
func BenchmarkOutboxLatency(b *testing.B) {
	const rate, dur = 10_000, 3 * time.Second
	for _, links := range []int{1, 4} {
		b.Run(fmt.Sprintf("channel/links=%d", links), func(b *testing.B) {
			for range b.N {
				reportLatency(b, pacedLatency(b, make([]*Outbox, links), rate/links, dur))
			}
		})
	}
	for _, be := range backends {
		for _, links := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/links=%d", be.name, links), func(b *testing.B) {
				for range b.N {
					d := openBenchDir(b, be.new)
					obs := make([]*Outbox, links)
					for l := range obs {
						obs[l] = openT(b, d, fmt.Sprintf("latency%d -> test://sink", l), Options{})
					}
					lat := pacedLatency(b, obs, rate/links, dur)
					reportLatency(b, lat)
					reportCommits(b, d, len(lat))
				}
			})
		}
	}
}

// reportCommits reports how many values each fsync'd transaction carried, for the
// stores that count their transactions.
func reportCommits(b *testing.B, d *Dir, values int) {
	if c, ok := d.be.(interface{ commitCount() uint64 }); ok && c.commitCount() > 0 {
		b.ReportMetric(float64(values)/float64(c.commitCount()), "values/commit")
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

// pacedLatency runs the paced pipeline through each outbox of obs (nil: a channel)
// at rate values/s each, and returns the latency of every value.
func pacedLatency(b *testing.B, obs []*Outbox, rate int, dur time.Duration) []time.Duration {
	var mu sync.Mutex
	var all []time.Duration
	errc := make(chan error, 2*len(obs))
	var wg sync.WaitGroup
	for _, o := range obs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, err := pacedLink(o, rate, dur)
			if err != nil {
				errc <- err
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	return all
}

func pacedLink(o *Outbox, rate int, dur time.Duration) ([]time.Duration, error) {
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
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		due <- time.Now().UnixNano()
	}
	wg.Wait()
	close(errc)
	return lat, <-errc
}

// BenchmarkOpenFull: Open of an outbox holding 256 MiB of 100 B values (2.7 million),
// which reads and checks the whole file; Dir.Open is timed alone.
func BenchmarkOpenFull(b *testing.B) {
	dir := b.TempDir()
	d, err := OpenDir(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	o := openT(b, d, "full", Options{})
	ps := make([][]byte, 4096)
	for i := range ps {
		ps[i] = make([]byte, benchValueSize)
	}
	for {
		if _, err := o.Append(ps); errors.Is(err, ErrFull) {
			break
		} else if err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		d, err := OpenDir(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		o, err := d.Open("full", Options{})
		if err != nil {
			b.Fatal(err)
		}
		if m, _ := o.Depth(); m < 2_000_000 {
			b.Fatalf("Depth %d", m)
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
