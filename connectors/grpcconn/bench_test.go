package grpcconn_test

import (
	"context"
	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest"
	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest/testpb"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// benchValue is the 64-byte value of the benchmarks.
var benchValue = []byte(strings.Repeat("x", 64))

// benchJSON is a Reading in JSON, for the plugin's protojson path.
var benchJSON = []byte(`{"sensor":"bench","value":21.5,"seq":"123456","unit":"UNIT_CELSIUS"}`)

// measure runs f (which handles b.N messages) and reports msgs/s and the CPU time per
// message of this process (test server included) plus the plugin process, if any.
func measure(b *testing.B, pid int, f func()) {
	cpu0 := cputime.Self() + cputime.Process(pid)
	b.ResetTimer()
	begin := time.Now()
	f()
	elapsed := time.Since(begin)
	b.StopTimer()
	cpu := cputime.Self() + cputime.Process(pid) - cpu0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

// launchPlugin starts the plugin binary as the host would, without supervision.
func launchPlugin(b *testing.B, bin string) conformance.Target {
	target, err := conformance.LaunchProcess(context.Background(), bin, conformance.ProcessOptions{LogLevel: "error"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(target.Kill)
	return target
}

// BenchmarkUnaryCall: one value at a time to the test server's Put method, by a
// bare grpc-go client with the generated code ("bare") and through the plugin
// process (host -> publish stream -> plugin -> unary call -> result), with the value
// raw in the data field and as JSON. cpu-ns/msg counts this process (server included)
// and the plugin.
func BenchmarkUnaryCall(b *testing.B) {
	srv := grpctest.Start(b)
	bin := buildPlugin(b)
	ctx := context.Background()
	b.Run("bare", func(b *testing.B) {
		cc, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		client := testpb.NewTelemetryClient(cc)
		if _, err := client.Put(ctx, &testpb.Reading{}); err != nil {
			b.Fatal(err)
		}
		measure(b, 0, func() {
			for range b.N {
				if _, err := client.Put(ctx, &testpb.Reading{Data: benchValue}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	for _, c := range []struct {
		name    string
		options sdk.Config
		value   []byte
	}{{"plugin-raw", sdk.Config{"payload_field": "data"}, benchValue}, {"plugin-json", sdk.Config{}, benchJSON}} {
		b.Run(c.name, func(b *testing.B) {
			target := launchPlugin(b, bin)
			in, err := target.Build(ctx, conformance.InstanceSpec{Name: "g", Scheme: "grpc", URL: "grpc://" + srv.Addr,
				Links: []conformance.Link{{ID: 1, Direction: sdk.Outbound, Resource: method("Put"), Options: c.options}}})
			if err != nil {
				b.Fatal(err)
			}
			defer in.Close(ctx)
			if err := in.Publish(ctx, 1, c.value); err != nil { // resolves the method by reflection
				b.Fatal(err)
			}
			measure(b, target.Pid(), func() {
				for range b.N {
					if err := in.Publish(ctx, 1, c.value); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkServerStream: the test server streams b.N readings to a bare grpc-go
// client ("bare") and to the plugin (stream -> plugin -> inbound stream -> this
// process as the host, acknowledging each value).
func BenchmarkServerStream(b *testing.B) {
	srv := grpctest.Start(b)
	bin := buildPlugin(b)
	reading := &testpb.Reading{Data: benchValue}
	send := func(b *testing.B, method string, got <-chan struct{}) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		go func() {
			for range b.N {
				if srv.Send(ctx, method, reading) != nil {
					return
				}
			}
		}()
		for i := range b.N {
			select {
			case <-got:
			case <-ctx.Done():
				b.Fatalf("%d of %d readings arrived", i, b.N)
			}
		}
	}
	b.Run("bare", func(b *testing.B) {
		cc, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := testpb.NewTelemetryClient(cc).WatchB(ctx, &testpb.WatchRequest{})
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan struct{}, 1024)
		go func() {
			for {
				if _, err := st.Recv(); err != nil {
					return
				}
				got <- struct{}{}
			}
		}()
		waitStream(b, srv, "WatchB", 1)
		measure(b, 0, func() { send(b, "WatchB", got) })
	})
	b.Run("plugin", func(b *testing.B) {
		target := launchPlugin(b, bin)
		got := make(chan struct{}, 1024)
		in, err := target.Build(context.Background(), conformance.InstanceSpec{Name: "g", Scheme: "grpc", URL: "grpc://" + srv.Addr,
			Links: []conformance.Link{{ID: 1, Direction: sdk.Inbound, Resource: method("WatchC"), Options: sdk.Config{"payload_field": "data"}}},
			Deliver: func(uint32, []byte) error {
				got <- struct{}{}
				return nil
			}})
		if err != nil {
			b.Fatal(err)
		}
		defer in.Close(context.Background())
		waitStream(b, srv, "WatchC", 1)
		measure(b, target.Pid(), func() { send(b, "WatchC", got) })
	})
}
