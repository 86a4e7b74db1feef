package plugin

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

var benchSizes = []struct {
	name string
	size int
}{{"64B", 64}, {"1KiB", 1024}}

func benchConfig() Config {
	return Config{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Error})}
}

// startBench starts the loopback plugin for a benchmark.
func startBench(b *testing.B) *Process {
	b.Helper()
	p, err := Start(context.Background(), filepath.Join(binDir, "loopback"), benchConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}

// BenchmarkOutbound publishes through the SDK plugin: host batches -> publish stream ->
// per-destination worker -> Connector.Publish (a no-op) -> batch results.
func BenchmarkOutbound(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			p := startBench(b)
			inst, err := p.Build(context.Background(), InstanceSpec{Name: "bench", Scheme: "loopback",
				Options: sdk.Config{"inject": "none"},
				Links:   []Link{{ID: 1, Direction: sdk.Outbound, Resource: "bench"}}})
			if err != nil {
				b.Fatal(err)
			}
			batch := make([][]byte, pluginwire.MaxBatchMessages)
			for i := range batch {
				batch[i] = make([]byte, sz.size)
			}
			var wg sync.WaitGroup
			var failed atomic.Int64
			b.SetBytes(int64(sz.size))
			b.ResetTimer()
			start := time.Now()
			for sent := 0; sent < b.N; {
				n := min(len(batch), b.N-sent)
				wg.Add(1)
				err := inst.Publish(context.Background(), 1, batch[:n], func(fs []Failure) {
					failed.Add(int64(len(fs)))
					wg.Done()
				})
				if err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			wg.Wait()
			reportRate(b, start)
			if failed.Load() != 0 {
				b.Fatalf("%d failures", failed.Load())
			}
		})
	}
}

// BenchmarkInbound delivers messages the plugin's connector dispatches through its
// Router: sink -> inbound batches -> host Deliver -> batch acks -> per-message ack.
func BenchmarkInbound(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			p := startBench(b)
			var got atomic.Int64
			done := make(chan struct{})
			n := int64(b.N)
			b.SetBytes(int64(sz.size))
			b.ResetTimer()
			start := time.Now()
			_, err := p.Build(context.Background(), InstanceSpec{Name: "bench", Scheme: "loopback",
				Options: sdk.Config{"generate": "in:" + strconv.Itoa(b.N) + ":" + strconv.Itoa(sz.size)},
				Links:   []Link{{ID: 1, Direction: sdk.Inbound, Resource: "in"}},
				Deliver: func(uint32, []byte) error {
					if got.Add(1) == n {
						close(done)
					}
					return nil
				}})
			if err != nil {
				b.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				b.Fatalf("got %d of %d", got.Load(), n)
			}
			reportRate(b, start)
		})
	}
}

// bareClient starts the bare baseline plugin and dispenses its connector client.
func bareClient(b *testing.B) *pluginwire.Client {
	c := newClient(filepath.Join(binDir, "bare"), benchConfig().withDefaults(), &stderrTail{})
	b.Cleanup(c.Kill)
	proto, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := proto.Dispense(pluginwire.PluginName)
	if err != nil {
		b.Fatal(err)
	}
	return raw.(*pluginwire.Client)
}

// BenchmarkBareOutbound is the baseline of BenchmarkOutbound: the same batches over the
// same transport, answered without per-message work, with the same window.
func BenchmarkBareOutbound(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			c := bareClient(b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := c.Publish(ctx)
			if err != nil {
				b.Fatal(err)
			}
			payloads := make([][]byte, pluginwire.MaxBatchMessages)
			for i := range payloads {
				payloads[i] = make([]byte, sz.size)
			}
			slots := make(chan struct{}, pluginwire.MaxBatchesInFlight)
			batches := (b.N + len(payloads) - 1) / len(payloads)
			recvDone := make(chan error, 1)
			go func() {
				for got := 0; got < batches; {
					m, err := st.Recv()
					if err != nil {
						recvDone <- err
						return
					}
					for range m.Results {
						<-slots
						got++
					}
				}
				recvDone <- nil
			}()
			b.SetBytes(int64(sz.size))
			b.ResetTimer()
			start := time.Now()
			for sent, id := 0, uint64(0); sent < b.N; id++ {
				n := min(len(payloads), b.N-sent)
				slots <- struct{}{}
				if err := st.Send(&pb.PublishBatch{BatchId: id, InstanceId: 1, LinkId: 1, Payloads: payloads[:n]}); err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			if err := <-recvDone; err != nil {
				b.Fatal(err)
			}
			reportRate(b, start)
		})
	}
}

// BenchmarkBareInbound is the baseline of BenchmarkInbound: prebuilt batches streamed
// plugin -> host and acknowledged per batch, without routing or per-message acks.
func BenchmarkBareInbound(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			c := bareClient(b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.SetBytes(int64(sz.size))
			b.ResetTimer()
			start := time.Now()
			st, err := c.Inbound(ctx)
			if err != nil {
				b.Fatal(err)
			}
			open := &pb.InboundAcks{Open: true, Acks: []*pb.InboundAck{{BatchId: uint64(b.N), Failures: []*pb.Failure{{Index: uint32(sz.size)}}}}}
			if err := st.Send(open); err != nil {
				b.Fatal(err)
			}
			for got := 0; got < b.N; {
				m, err := st.Recv()
				if err != nil {
					b.Fatal(err)
				}
				for range m.Sizes {
					got++ // what a host does per message, at the least
				}
				if err := st.Send(&pb.InboundAcks{Acks: []*pb.InboundAck{{BatchId: m.BatchId}}}); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, start)
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
