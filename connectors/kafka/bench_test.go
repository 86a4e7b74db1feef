package kafka_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

var benchValue = []byte(`{"id":"sensor-17","temp":21.5,"unit":"C","seq":123456,"site":"plant-b"}`)

// BenchmarkPublish measures Publish calls to one topic, one at a time (the host's
// order for one destination): each waits for Kafka's acknowledgement.
func BenchmarkPublish(b *testing.B) {
	for _, acks := range []string{"all", "none"} {
		b.Run("acks="+acks, func(b *testing.B) {
			cl := kafkatest.StartCluster(b, kfake.SeedTopics(1, "bench"))
			inst := start(b, "kafka", cl.URL(), nil, nil, nil)
			cfg := sdk.Config{"key_field": "id", "acks": acks}
			ctx := context.Background()
			publish(b, inst, "bench", cfg, string(benchValue))
			b.ResetTimer()
			for b.Loop() {
				if err := inst.Publish(ctx, "bench", cfg, benchValue); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkPublishTopics measures Publish from 8 goroutines, one topic each: how the
// connector scales when the host publishes to several destinations at once.
func BenchmarkPublishTopics(b *testing.B) {
	topics := make([]string, 8)
	for i := range topics {
		topics[i] = fmt.Sprintf("bench%d", i)
	}
	cl := kafkatest.StartCluster(b, kfake.SeedTopics(1, topics...))
	inst := start(b, "kafka", cl.URL(), nil, nil, nil)
	ctx := context.Background()
	var next atomic.Int32
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // about 8 goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		topic := topics[int(next.Add(1)-1)%len(topics)]
		for pb.Next() {
			if err := inst.Publish(ctx, topic, nil, benchValue); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkConsume measures records read through a consumer group, handed to the
// host (a sink that acknowledges at once) and marked for commit.
func BenchmarkConsume(b *testing.B) {
	cl := kafkatest.StartCluster(b, kfake.SeedTopics(1, "bench"))
	pc, err := kgo.NewClient(kgo.SeedBrokers(cl.Addr), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	ctx := context.Background()
	for i := 0; i < b.N; i += 10000 {
		recs := make([]*kgo.Record, 0, 10000)
		for j := i; j < min(b.N, i+10000); j++ {
			recs = append(recs, &kgo.Record{Topic: "bench", Value: benchValue})
		}
		if err := pc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	var got atomic.Int64
	all := make(chan struct{})
	sink := run.SinkFunc(func(m run.Message, ack func(error)) {
		ack(nil)
		if got.Add(1) == int64(b.N) {
			close(all)
		}
	})
	b.ResetTimer()
	start(b, "kafka", cl.URL(), sdk.Config{"start_offset": "earliest"}, []sdk.Route{{ID: 1, Resource: "bench"}}, sink)
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		b.Fatalf("consumed %d of %d records in 2 minutes", got.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
