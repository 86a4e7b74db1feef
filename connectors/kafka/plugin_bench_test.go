package kafka_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// launch starts the plugin binary as the host would, without supervision.
func launch(b *testing.B) conformance.Target {
	b.Helper()
	target, err := conformance.LaunchProcess(context.Background(), buildPlugin(b), conformance.ProcessOptions{LogLevel: "error"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(target.Kill)
	return target
}

// BenchmarkPluginPublish is BenchmarkPublish through the plugin process: host ->
// publish stream -> plugin -> Kafka acknowledgement -> result, one value at a time.
func BenchmarkPluginPublish(b *testing.B) {
	cl := kafkatest.StartCluster(b, kfake.SeedTopics(1, "bench"))
	target := launch(b)
	ctx := context.Background()
	in, err := target.Build(ctx, conformance.InstanceSpec{Name: "kafka", Scheme: "kafka", URL: cl.URL(),
		Links: []conformance.Link{{ID: 1, Direction: sdk.Outbound, Resource: "bench", Options: sdk.Config{"key_field": "id"}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Close(ctx) })
	b.ResetTimer()
	for b.Loop() {
		if err := in.Publish(ctx, 1, benchValue); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPluginConsume is BenchmarkConsume through the plugin process: Kafka ->
// plugin -> inbound stream -> host acknowledgement -> offset marked.
func BenchmarkPluginConsume(b *testing.B) {
	cl := kafkatest.StartCluster(b, kfake.SeedTopics(1, "bench"))
	values := make([]string, b.N)
	for i := range values {
		values[i] = string(benchValue)
	}
	for i := 0; i < b.N; i += 10000 {
		produce(b, cl.Addr, "bench", values[i:min(b.N, i+10000)]...)
	}
	target := launch(b)
	var got atomic.Int64
	all := make(chan struct{})
	b.ResetTimer()
	in, err := target.Build(context.Background(), conformance.InstanceSpec{Name: "kafka", Scheme: "kafka", URL: cl.URL(),
		Options: sdk.Config{"start_offset": "earliest"},
		Links:   []conformance.Link{{ID: 1, Direction: sdk.Inbound, Resource: "bench"}},
		Deliver: func(uint32, []byte) error {
			if got.Add(1) == int64(b.N) {
				close(all)
			}
			return nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Close(context.Background()) })
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		b.Fatalf("consumed %d of %d records in 2 minutes", got.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
