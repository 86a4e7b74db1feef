package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// Two instances with the same group split a topic's partitions; when one stops taking
// values and leaves, the other resumes its partitions right after the last value it
// took: offsets are committed only for values the host took, so nothing is lost and
// nothing is handled twice.
func TestGroupSplitsPartitionsAndHandsOverWithoutLoss(t *testing.T) {
	const partitions = 6
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(partitions, "work"))
	opts := sdk.Config{"start_offset": "earliest", "group": "workers", "max_poll_records": "50"}
	routes := []sdk.Route{{ID: 1, Resource: "work"}}

	var refuse atomic.Bool
	var refused atomic.Int64
	a, b := newRecorder(), newRecorder()
	a.decide = func(run.Message) (error, bool) {
		if refuse.Load() {
			refused.Add(1)
			return sdk.Errorf(sdk.KindBufferFull, "test: record full"), false
		}
		return nil, false
	}
	instA := start(t, "a", cl.URL(), opts, routes, a)
	start(t, "b", cl.URL(), opts, routes, b)

	// Phase 1: produce in rounds until the group has balanced and both took a share.
	produced := 0
	deadline := time.Now().Add(30 * time.Second)
	for len(a.payloads()) == 0 || len(b.payloads()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after %d values the group did not split them: a took %d, b took %d", produced, len(a.payloads()), len(b.payloads()))
		}
		produced += producePartitioned(t, cl.Addr, "work", partitions, produced, 60)
		waitTotal(t, produced, a, b)
	}
	phase1A, phase1B := len(a.payloads()), len(b.payloads())

	// Phase 2: a takes nothing more; its partitions' values must reach b once a leaves.
	refuse.Store(true)
	produced += producePartitioned(t, cl.Addr, "work", partitions, produced, 600)
	for refused.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a was handed no value to refuse")
		}
		time.Sleep(10 * time.Millisecond)
	}
	closeNow(t, instA)
	waitTotal(t, produced, a, b)

	seen := make(map[string]int)
	for _, v := range append(a.payloads(), b.payloads()...) {
		seen[v]++
	}
	lost, dup := 0, 0
	for i := range produced {
		switch n := seen[fmt.Sprint(i)]; {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	t.Logf("%d values on %d partitions: a took %d (%d before it stopped taking), b took %d (%d before the handover); a refused %d deliveries; lost %d, duplicated %d",
		produced, partitions, len(a.payloads()), phase1A, len(b.payloads()), phase1B, refused.Load(), lost, dup)
	if lost != 0 || dup != 0 || len(seen) != produced {
		t.Fatalf("lost %d, duplicated %d, distinct %d of %d", lost, dup, len(seen), produced)
	}
}

// producePartitioned writes n sequence-numbered values, from first on, spread evenly
// over the topic's partitions, and returns n.
func producePartitioned(t *testing.T, addr, topic string, partitions, first, n int) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32((first + i) % partitions), Value: []byte(fmt.Sprint(first + i))}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %q: %v", topic, err)
	}
	return n
}

// waitTotal waits until the sinks together took at least n values (20 s at most),
// then until no more came for 500 ms, so a late duplicate is counted too.
func waitTotal(t *testing.T, n int, sinks ...*recorder) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	total := func() int {
		sum := 0
		for _, s := range sinks {
			sum += len(s.payloads())
		}
		return sum
	}
	for {
		if got := total(); got >= n {
			for quiet := time.Now(); time.Since(quiet) < 500*time.Millisecond && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				if now := total(); now != got {
					got, quiet = now, time.Now()
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group took %d of %d values within 20 s", total(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
