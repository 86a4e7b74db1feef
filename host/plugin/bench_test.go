package plugin

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client/clienttest"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Boundary benchmarks, each beside its baseline in the same run: the SDK plugin
// (loopback: the connector does nothing per message) against the bare plugin (the
// same wire, no per-message work at all). Batch sizes are those real traffic forms
// (1, 8, 64 messages) and the largest (1024).
var (
	benchBatches = []int{1, 8, 64, pluginwire.MaxBatchMessages}
	benchPlugins = []string{"loopback", "bare"}
)

const benchSize = 100

func benchConfig() Config {
	return Config{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Error})}
}

// benchConn launches a test plugin through the wire client and builds one instance.
func benchConn(b *testing.B, name string, options sdk.Config, links []client.Link, deliver func(client.Inbound, func(error)) (error, bool)) (*client.Conn, *client.Data) {
	return benchConnTLS(b, false, name, options, links, deliver)
}

// benchConnTLS is benchConn with go-plugin's AutoMTLS on or off.
func benchConnTLS(b *testing.B, tls bool, name string, options sdk.Config, links []client.Link, deliver func(client.Inbound, func(error)) (error, bool)) (*client.Conn, *client.Data) {
	return benchConnWith(b, tls, 0, name, options, links, deliver)
}

// benchConnWith is benchConn with AutoMTLS on or off and the instance's linger.
func benchConnWith(b *testing.B, tls bool, linger time.Duration, name string, options sdk.Config, links []client.Link, deliver func(client.Inbound, func(error)) (error, bool)) (*client.Conn, *client.Data) {
	b.Helper()
	cfg := benchConfig().withDefaults()
	cfg.TLS = tls
	c, err := client.Launch(context.Background(), filepath.Join(binDir, name), cfg.options(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Kill)
	d, err := c.OpenData(client.Handler{Deliver: deliver})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	scheme := name
	if err := c.Build(context.Background(), client.InstanceSpec{ID: 1, Name: "bench", Scheme: scheme, Options: options, Links: links, Linger: linger}); err != nil {
		b.Fatal(err)
	}
	return c, d
}

// sameFeed publishes total benchSize-byte payloads to link 1 in batches of batch,
// the same batch of payloads every time.
func sameFeed(d *client.Data, total, batch int) *clienttest.Feed {
	payloads := make([][]byte, batch)
	for i := range payloads {
		payloads[i] = make([]byte, benchSize)
	}
	return clienttest.NewFeed(d, 1, total, batch, func(_, n int) [][]byte { return payloads[:n] })
}

// options are the instance options that make each benchmark plugin do nothing but
// the wire's work (and, with generate, stream inbound messages).
func options(name string, generate string) sdk.Config {
	switch {
	case name == "loopback" && generate != "":
		return sdk.Config{"inject": "none", "generate": "in:" + generate}
	case name == "loopback":
		return sdk.Config{"inject": "none"}
	case generate != "":
		return sdk.Config{"generate": generate}
	}
	return sdk.Config{}
}

// BenchmarkOutbound publishes 100-byte values through a plugin in batches of 1 to
// 1024: host feed -> data stream -> link worker -> Connector.Publish (a no-op) ->
// results riding back.
func BenchmarkOutbound(b *testing.B) {
	for _, batch := range benchBatches {
		for _, name := range benchPlugins {
			b.Run(fmt.Sprintf("batch=%d/%s", batch, name), func(b *testing.B) {
				links := []client.Link{{ID: 1, Direction: sdk.Outbound, Resource: "bench"}}
				_, d := benchConn(b, name, options(name, ""), links, nil)
				f := sameFeed(d, b.N, batch)
				b.SetBytes(benchSize)
				b.ResetTimer()
				start := time.Now()
				failed, err := f.Run(5 * time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
				if failed != 0 {
					b.Fatalf("%d failures", failed)
				}
			})
		}
	}
}

// BenchmarkOutboundTLS is BenchmarkOutbound through the SDK plugin with AutoMTLS on
// and off in the same run: what TLS costs on the private socket (it is off there).
func BenchmarkOutboundTLS(b *testing.B) {
	for _, batch := range []int{1, 64} {
		for _, tls := range []bool{false, true} {
			b.Run(fmt.Sprintf("batch=%d/tls=%v", batch, tls), func(b *testing.B) {
				links := []client.Link{{ID: 1, Direction: sdk.Outbound, Resource: "bench"}}
				_, d := benchConnTLS(b, tls, "loopback", options("loopback", ""), links, nil)
				f := sameFeed(d, b.N, batch)
				b.ResetTimer()
				start := time.Now()
				if _, err := f.Run(5 * time.Minute); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
			})
		}
	}
}

// countDeliveries returns a Deliver that takes every message, how many it took, and
// a channel closed when it took n.
func countDeliveries(n int) (*atomic.Int64, <-chan struct{}, func(client.Inbound, func(error)) (error, bool)) {
	got, done := new(atomic.Int64), make(chan struct{})
	return got, done, func(client.Inbound, func(error)) (error, bool) {
		if got.Add(1) == int64(n) {
			close(done)
		}
		return nil, true
	}
}

// BenchmarkInbound delivers 100-byte messages a plugin's connector dispatches (the
// loopback generator through the SDK's router, or the bare plugin's prebuilt
// batches), with at most batch messages unacknowledged, so batches hold at most
// batch messages: inbound batch -> host Deliver -> acknowledgement riding back.
func BenchmarkInbound(b *testing.B) {
	for _, batch := range benchBatches {
		for _, name := range benchPlugins {
			b.Run(fmt.Sprintf("batch=%d/%s", batch, name), func(b *testing.B) {
				got, done, deliver := countDeliveries(b.N)
				b.SetBytes(benchSize)
				b.ResetTimer()
				start := time.Now()
				links := []client.Link{{ID: 1, Direction: sdk.Inbound, Resource: "in"}}
				benchConn(b, name, options(name, fmt.Sprintf("%d:%d:%d", b.N, benchSize, batch)), links, deliver)
				select {
				case <-done:
				case <-time.After(5 * time.Minute):
					b.Fatalf("got %d of %d", got.Load(), b.N)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
			})
		}
	}
}

// pacedFeed publishes one value per tick of its pacer, as a link's pump does at a
// steady rate (Cut takes what the pacer released and is not in flight).
type pacedFeed struct {
	d        *client.Data
	payload  []byte
	mu       sync.Mutex
	released int // values the pacer released
	cut      int
	inflight int
	failed   atomic.Int64
}

func (f *pacedFeed) Cut(maxMsgs, _ int) (client.Batch, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(f.released-f.cut, maxMsgs)
	if n == 0 || f.inflight >= pluginwire.MaxBatchesInFlight || f.inflight > 0 && n < maxMsgs {
		return client.Batch{}, false // gather while a batch is out, as the pump does
	}
	f.cut += n
	f.inflight++
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = f.payload
	}
	return client.Batch{Instance: 1, Link: 1, Payloads: payloads, Done: func(fs []client.Failure) {
		f.failed.Add(int64(len(fs)))
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
		f.d.Ready(f)
	}}, true
}

func (f *pacedFeed) Abandon(error) {}

// BenchmarkPacedBridge bridges b.N values at a steady 5,000 per second through the
// loopback plugin and back (host feed -> publish batch -> the connector re-injects
// each value -> inbound batch -> host), with plugin_linger 0, the default 200 µs and
// 2 ms side by side: cpu-µs/msg is the CPU time of both processes per value, the
// cost of crossing the boundary when messages come one at a time.
func BenchmarkPacedBridge(b *testing.B) {
	const rate = 5000
	for _, linger := range []time.Duration{0, 200 * time.Microsecond, 2 * time.Millisecond} {
		b.Run("linger="+linger.String(), func(b *testing.B) {
			got, done, deliver := countDeliveries(b.N)
			links := []client.Link{{ID: 1, Direction: sdk.Outbound, Resource: "t/x"}, {ID: 2, Direction: sdk.Inbound, Resource: "t/+"}}
			c, d := benchConnWith(b, false, linger, "loopback", sdk.Config{"inject": "async"}, links, deliver)
			f := &pacedFeed{d: d, payload: make([]byte, benchSize)}
			b.ResetTimer()
			cpu0 := cputime.Self() + cputime.Process(c.Pid())
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			start := time.Now()
			for released := 0; released < b.N; {
				<-tick.C // a late tick releases every value due by now
				released = min(b.N, int(time.Since(start).Seconds()*rate)+1)
				f.mu.Lock()
				f.released = released
				f.mu.Unlock()
				d.Ready(f)
			}
			select {
			case <-done:
			case <-time.After(time.Minute):
				b.Fatalf("%d of %d values came back", got.Load(), b.N)
			}
			cpu := cputime.Self() + cputime.Process(c.Pid()) - cpu0
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
			if n := f.failed.Load(); n != 0 {
				b.Fatalf("%d failures", n)
			}
		})
	}
}

// BenchmarkStartReady is one plugin from exec to an instance built and ready.
func BenchmarkStartReady(b *testing.B) {
	for i := 0; i < b.N; i++ {
		p, err := Start(context.Background(), filepath.Join(binDir, "loopback"), benchConfig())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Build(context.Background(), InstanceSpec{Name: "r", Scheme: "loopback"}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p.Close(context.Background())
		b.StartTimer()
	}
}
