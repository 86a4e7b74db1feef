package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka"
	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// Offsets are committed only for values the host acknowledged: a connector restarted
// mid-stream resumes right after the last acknowledged value, so nothing is lost and
// the only values seen twice are those that were in flight (held, never acknowledged).
func TestCommitAfterAckAcrossRestart(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "stream"))
	values := seq("m", 200)
	produce(t, cl.Addr, "stream", values...)
	opts := sdk.Config{"start_offset": "earliest", "group": "g1", "max_poll_records": "50"}
	routes := []sdk.Route{{ID: 1, Resource: "stream"}}

	const acked = 80
	first := newRecorder()
	n := 0
	first.decide = func(run.Message) (error, bool) {
		n++ // Deliver is called from the one poll loop: no race
		return nil, n > acked
	}
	inst := start(t, "a", cl.URL(), opts, routes, first)
	first.wait(t, acked, 20*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for len(first.heldPayloads()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	closeNow(t, inst)
	got1, held := first.payloads(), first.heldPayloads()
	if !slices.Equal(got1, values[:acked]) {
		t.Fatalf("first connector took %q, want the first %d values", got1, acked)
	}
	if len(held) == 0 {
		t.Fatal("first connector had nothing in flight when it closed; the test proves nothing")
	}

	// A new instance produced more meanwhile; the second instance must start at m80.
	more := seq("n", 10)
	produce(t, cl.Addr, "stream", more...)
	second := newRecorder()
	start(t, "b", cl.URL(), opts, routes, second)
	want := append(slices.Clone(values[acked:]), more...)
	got2 := second.wait(t, len(want), 20*time.Second)
	if !slices.Equal(got2[:len(want)], want) {
		t.Fatalf("after restart got %q..., want %q...", head(got2), head(want))
	}
	for _, v := range got2 {
		if slices.Contains(got1, v) {
			t.Errorf("value %q was acknowledged before the restart and delivered again", v)
		}
	}
	for _, v := range held {
		if !slices.Contains(got2, v) {
			t.Errorf("in-flight value %q was lost across the restart", v)
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// A value the host rejects (it does not deserialize) is counted and skipped, and its
// offset committed: it is not delivered again, and later values flow.
func TestRejectedRecordSkipped(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "in"))
	produce(t, cl.Addr, "in", "1", "not-a-number", "2")
	opts := sdk.Config{"start_offset": "earliest"}
	routes := []sdk.Route{{ID: 1, Resource: "in"}}
	rejectBad := func(m run.Message) (error, bool) {
		if strings.HasPrefix(string(m.Payload), "not") {
			return sdk.Errorf(sdk.KindRejected, "payload %q does not deserialize", m.Payload), false
		}
		return nil, false
	}
	rec := newRecorder()
	rec.decide = rejectBad
	inst := start(t, "x", cl.URL(), opts, routes, rec)
	if got := rec.wait(t, 2, 20*time.Second); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("got %q, want 1 and 2", got)
	}
	if s := waitStats(inst, func(s kafka.Stats) bool { return s.Rejected == 1 && s.Delivered == 2 }); s.Rejected != 1 || s.Delivered != 2 {
		t.Errorf("stats %+v, want 1 rejected and 2 delivered", s)
	}
	closeNow(t, inst)

	produce(t, cl.Addr, "in", "3")
	again := newRecorder()
	again.decide = rejectBad
	inst2 := start(t, "x", cl.URL(), opts, routes, again)
	if got := again.wait(t, 1, 20*time.Second); !slices.Equal(got, []string{"3"}) {
		t.Errorf("after restart got %q, want only 3", got)
	}
	if s := inst2.Connector().(*kafka.Connector).Stats(); s.Rejected != 0 {
		t.Errorf("the rejected record came again after restart: stats %+v", s)
	}
}

// A host that fails a value for a passing reason gets it again until it takes it;
// nothing after it is committed before it.
func TestTransientHostErrorRetried(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "in"))
	produce(t, cl.Addr, "in", "a", "b")
	fails := 2
	rec := newRecorder()
	rec.decide = func(m run.Message) (error, bool) {
		if string(m.Payload) == "a" && fails > 0 {
			fails--
			return sdk.Errorf(sdk.KindBufferFull, "host busy"), false
		}
		return nil, false
	}
	start(t, "x", cl.URL(), sdk.Config{"start_offset": "earliest"}, []sdk.Route{{ID: 1, Resource: "in"}}, rec)
	got := rec.wait(t, 2, 20*time.Second)
	if !slices.Contains(got, "a") || !slices.Contains(got, "b") || fails != 0 {
		t.Errorf("got %q with %d failures left, want a (after 2 failures) and b", got, fails)
	}
}

// Values produced while the connector restarts twice all arrive, and the only values
// seen twice are ones a closing instance had been handed but not yet settled: at most
// max_poll_records per restart.
func TestRestartMidStreamLosesNothing(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "live"))
	const total, maxPoll = 300, 20
	// A closing member that cannot leave the group in time (a loaded machine) is
	// expired after session_timeout: 6 s instead of the default 45 s.
	opts := sdk.Config{"start_offset": "earliest", "group": "live", "max_poll_records": fmt.Sprint(maxPoll), "session_timeout": "6s"}
	routes := []sdk.Route{{ID: 1, Resource: "live"}}
	values := seq("v", total)
	pc, err := kgo.NewClient(kgo.SeedBrokers(cl.Addr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	produced := make(chan error, 1)
	go func() { // FailNow is for the test goroutine: report through produced
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := 0; i < total; i += 10 {
			recs := make([]*kgo.Record, 0, 10)
			for _, v := range values[i : i+10] {
				recs = append(recs, &kgo.Record{Topic: "live", Value: []byte(v)})
			}
			if err := pc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				produced <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		produced <- nil
	}()
	t.Cleanup(func() { <-produced }) // when the test stops early, before pc closes
	var seen []string
	for round := range 3 {
		rec := newRecorder()
		inst := start(t, fmt.Sprint("r", round), cl.URL(), opts, routes, rec)
		if round < 2 {
			rec.waitFor(t, "some values", func(got []string) bool { return len(got) >= 40 }, 20*time.Second)
			closeNow(t, inst)
			seen = append(seen, rec.payloads()...)
			continue
		}
		if err := <-produced; err != nil {
			t.Fatalf("produce: %v", err)
		}
		produced <- nil // for the cleanup
		// kfake may refuse the group's third join for several seconds (docs/testing.md),
		// longer on a loaded machine: the bound is generous, the counts below are exact.
		rec.waitFor(t, "the last value", func(got []string) bool { return slices.Contains(got, values[total-1]) }, 60*time.Second)
		seen = append(seen, rec.payloads()...)
	}
	count := map[string]int{}
	for _, v := range seen {
		count[v]++
	}
	dups := 0
	for _, v := range values {
		if count[v] == 0 {
			t.Errorf("value %q was lost across the restarts", v)
		}
		dups += count[v] - min(count[v], 1)
	}
	if dups > 2*maxPoll {
		t.Errorf("%d values came twice across 2 restarts; want at most %d (what was in flight)", dups, 2*maxPoll)
	}
	t.Logf("%d values, %d seen twice", total, dups)
}
