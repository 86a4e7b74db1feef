package scaleout

import (
	"fmt"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// benchBurst is the number of QoS 1 values one benchmark iteration sends.
const benchBurst = 20000

// BenchmarkScaleOut measures the throughput of 1, 2 and 3 aimdb instances sharing an
// MQTT 5 shared subscription on mosquitto: a burst of 20,000 QoS 1 values goes in as
// fast as the publisher's 256-message window allows, and every instance forwards what
// it handled to a topic of its own. "bare" is the same publisher and collector without
// aimdb (values published straight to the collected topic): the broker's own ceiling
// on this machine, measured in the same run. values/s counts distinct values arrived.
//
//	go test -run '^$' -bench ScaleOut -benchtime 2x ./test/scaleout
func BenchmarkScaleOut(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchScale(b, 0) })
	for n := 1; n <= instances; n++ {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) { benchScale(b, n) })
	}
}

func benchScale(b *testing.B, n int) {
	broker := startBroker(b)
	const capacity = 1 << 21
	if b.N*benchBurst > capacity {
		b.Fatalf("b.N %d too large; use -benchtime Nx with N <= %d", b.N, capacity/benchBurst)
	}
	col := newCollector(b, broker.Addr, capacity)
	pub := &mqttPublisher{c: mqttClient(b, broker.Addr, nil)}
	if n == 0 {
		pub.topics = []string{doneTopic + "/bare"}
	} else {
		for i := range partitions {
			pub.topics = append(pub.topics, fmt.Sprintf("scale/in/%d", i))
		}
		insts := fleet(b, n, func(name string) string { return mqttConfig(broker.Addr, name, "1000", cleanSessions) })
		waitShared(b, col, len(insts), func(seq uint64, p []byte) {
			if !pub.c.Publish(pub.topics[seq%partitions], 1, false, p).WaitTimeout(10 * time.Second) {
				b.Fatal("probe not acknowledged")
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		first := uint64(i * benchBurst)
		gen := &seqload.Generator{Format: seqload.JSON, Size: 64, Count: benchBurst, FirstSeq: first, Counter: col.ctr, Publish: pub.Publish}
		waitFeedDone(b, feed(gen, pub.flush), 2*time.Minute)
		if r := col.waitArrived(first+benchBurst, 2*time.Minute, 10*time.Second); r.Arrived < first+benchBurst {
			b.Fatalf("iteration %d: %d of %d values arrived", i, r.Arrived-first, benchBurst)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBurst)/elapsed.Seconds(), "values/s")
	b.ReportMetric(0, "ns/op")
	if n > 0 {
		counts := col.counts()
		b.Logf("%d instances: %v", n, counts)
	}
}
