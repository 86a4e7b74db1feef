package buffer

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks for the three buffers, each beside a bare Go channel measured the same
// way in the same run. Values are a small non-pointer struct, as sensor readings are.
//
//	go test -run '^$' -bench . -benchtime 1s ./host/buffer/

type sample struct {
	seq uint64
	ts  int64 // nanoseconds since benchStart, set by the producer
}

var benchStart = time.Now()

func now() int64 { return int64(time.Since(benchStart)) }

// queue is what the benchmarks drive: one of our buffers or a channel.
type queue interface {
	push(v sample)
	subscribe() func(ctx context.Context) (sample, error) // one consumer's receive
	close()
}

type bufQueue struct{ b Buffer[sample] }

func (q bufQueue) push(v sample) { _ = q.b.Push(v) }
func (q bufQueue) subscribe() func(ctx context.Context) (sample, error) {
	r := q.b.Subscribe()
	return r.Recv
}
func (q bufQueue) close() { q.b.Close() }

// chanQueue is the baseline: a buffered channel per consumer (fan-out, so every consumer
// sees every value, like the ring) or one channel shared by competing consumers (like
// the mailbox). The producer blocks when a channel is full; ours never block.
type chanQueue struct {
	shared bool
	chans  []chan sample
}

func (q *chanQueue) push(v sample) {
	for _, c := range q.chans {
		c <- v
	}
}
func (q *chanQueue) subscribe() func(ctx context.Context) (sample, error) {
	if !q.shared || len(q.chans) == 0 {
		q.chans = append(q.chans, make(chan sample, DefaultCapacity))
	}
	c := q.chans[len(q.chans)-1]
	return func(ctx context.Context) (sample, error) {
		select {
		case v, ok := <-c:
			if !ok {
				return v, ErrClosed
			}
			return v, nil
		case <-ctx.Done():
			return sample{}, ctx.Err()
		}
	}
}
func (q *chanQueue) close() {
	for _, c := range q.chans {
		close(c)
	}
}

type queueKind struct {
	name string
	make func() queue
}

var benchQueues = []queueKind{
	{"spmc_ring", func() queue { return bufQueue{NewRing[sample](DefaultCapacity)} }},
	{"single_latest", func() queue { return bufQueue{NewLatest[sample]()} }},
	{"mailbox", func() queue { return bufQueue{NewMailbox[sample]()} }},
	{"chan_fanout", func() queue { return &chanQueue{} }},
	{"chan_shared", func() queue { return &chanQueue{shared: true} }},
}

// BenchmarkPushRecv is the single-goroutine cost of one Push plus one receive.
func BenchmarkPushRecv(b *testing.B) {
	ctx := context.Background()
	for _, k := range benchQueues[:4] {
		b.Run(k.name, func(b *testing.B) {
			q := k.make()
			recv := q.subscribe()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				q.push(sample{seq: uint64(i)})
				if _, err := recv(ctx); err != nil {
					b.Fatal(err)
				}
			}
			q.close()
		})
	}
}

// BenchmarkPushRecvPayload is BenchmarkPushRecv with a 100-byte payload, a value that
// holds a pointer, beside a channel: the ring then lets go of what its readers read.
func BenchmarkPushRecvPayload(b *testing.B) {
	payload := make([]byte, 100)
	b.Run("spmc_ring", func(b *testing.B) {
		r := NewRing[[]byte](DefaultCapacity)
		rd := r.Subscribe()
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Push(payload); err != nil {
				b.Fatal(err)
			}
			if _, err := rd.TryRecv(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("chan", func(b *testing.B) {
		ch := make(chan []byte, DefaultCapacity)
		b.ReportAllocs()
		for b.Loop() {
			ch <- payload
			<-ch
		}
	})
}

// BenchmarkThroughput pushes b.N values as fast as the producer can while consumers
// receive on other goroutines. msgs/s is b.N over the time until every consumer has
// drained; recv/s is the values one consumer received per second (averaged over the
// consumers); delivered_% is the share of values that reached consumers (rings
// overwrite for slow consumers, single-latest skips, mailbox overwrites; channels
// block the producer instead).
func BenchmarkThroughput(b *testing.B) {
	for _, consumers := range []int{1, 4} {
		for _, k := range benchQueues {
			b.Run(fmt.Sprintf("%s/consumers=%d", k.name, consumers), func(b *testing.B) {
				q := k.make()
				recvs := make([]func(context.Context) (sample, error), consumers)
				for i := range recvs {
					recvs[i] = q.subscribe()
				}
				var received atomic.Uint64
				var wg sync.WaitGroup
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for _, recv := range recvs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n := uint64(0)
						for {
							_, err := recv(ctx)
							if err == nil {
								n++
								continue
							}
							if _, lagged := err.(*LagError); !lagged {
								break
							}
						}
						received.Add(n)
					}()
				}
				for i := 0; i < b.N; i++ {
					q.push(sample{seq: uint64(i)})
				}
				q.close()
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				want := float64(b.N * consumers)
				if k.name == "mailbox" || k.name == "chan_shared" {
					want = float64(b.N)
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
				b.ReportMetric(float64(received.Load())/float64(consumers)/elapsed.Seconds(), "recv/s")
				b.ReportMetric(100*float64(received.Load())/want, "delivered_%")
			})
		}
	}
}

// BenchmarkLatency measures produce->receive latency of one value at a time: the
// producer stamps a value, pushes it, and waits (yielding its processor) until the
// consumer has it before the next. "hot": the next value follows at once (the consumer is still spinning);
// "parked": the producer waits 20µs first, so the consumer has gone to sleep and must
// be woken. p50/p99 are reported in ns; they include two clock reads (~2x25 ns).
func BenchmarkLatency(b *testing.B) {
	for _, mode := range []string{"hot", "parked"} {
		for _, k := range benchQueues[:4] {
			b.Run(mode+"/"+k.name, func(b *testing.B) {
				q := k.make()
				recv := q.subscribe()
				lat := make([]int64, 0, min(b.N, 1<<20))
				var got atomic.Uint64
				done := make(chan struct{})
				go func() {
					defer close(done)
					for {
						v, err := recv(context.Background())
						if err != nil {
							return
						}
						if d := now() - v.ts; len(lat) < cap(lat) {
							lat = append(lat, d)
						}
						got.Store(v.seq)
					}
				}()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 1; i <= b.N; i++ {
					if mode == "parked" {
						for t0 := now(); now()-t0 < 20_000; {
						}
					}
					q.push(sample{seq: uint64(i), ts: now()})
					for got.Load() != uint64(i) {
						runtime.Gosched()
					}
				}
				b.StopTimer()
				q.close()
				<-done
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2]), "p50_ns")
				b.ReportMetric(float64(lat[len(lat)*99/100]), "p99_ns")
			})
		}
	}
}
