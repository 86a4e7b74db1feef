package kafka_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/internal/syncbuf"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// publishUntilOK retries a publish until it succeeds or the deadline passes: what the
// host does with a value kept in its record buffer.
func publishUntilOK(t *testing.T, inst *run.Instance, topic, v string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := inst.Publish(ctx, topic, nil, []byte(v))
		cancel()
		if err == nil {
			return
		}
		t.Logf("publish %q: %v", v, err)
		if time.Now().After(deadline) {
			t.Fatalf("publish %q still failing after %s: %v", v, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func wantUnreachable(t *testing.T, what string, err error) {
	t.Helper()
	if k := sdk.KindOf(err); k != sdk.KindConnectionFailed && k != sdk.KindTimeout {
		t.Fatalf("%s while the broker is down: %v (kind %v), want connection failed or timeout", what, err, k)
	}
}

// Brokers unreachable at start: Build succeeds, Publish and Health fail with a
// connection error; once the broker is up the same instance publishes and consumes.
func TestBrokerDownAtStartThenUp(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "t", "in"))
	cl.Stop()
	rec := newRecorder()
	inst := start(t, "kafka", cl.URL(), sdk.Config{"publish_timeout": "1s", "start_offset": "earliest"}, []sdk.Route{{ID: 1, Resource: "in"}}, rec)
	ctx := context.Background()
	t0 := time.Now()
	err := inst.Publish(ctx, "t", nil, []byte("early"))
	wantUnreachable(t, "publish", err)
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("publish took %s to fail, want about publish_timeout (1s)", d)
	}
	t.Logf("publish while down: %v", err)
	herr := inst.Health(ctx)
	wantUnreachable(t, "health", herr)
	t.Logf("health while down: %v", herr)

	cl.Restart()
	publishUntilOK(t, inst, "t", "later", 20*time.Second)
	if err := inst.Health(ctx); err != nil {
		t.Errorf("health after the broker came up: %v", err)
	}
	produce(t, cl.Addr, "in", "hello")
	if got := rec.wait(t, 1, 20*time.Second); got[0] != "hello" {
		t.Errorf("consumed %q, want hello", got)
	}
}

// A broker that goes away mid-stream: Publish fails while it is gone, Health shows it,
// and publishing and consuming resume when it is back, with its data kept.
func TestBrokerGoesAwayAndReturns(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "t"))
	rec := newRecorder()
	// publish_timeout bounds the publish into the outage; 1 s was too short for the
	// first publish ("before": connect, metadata, produce) on a loaded machine.
	inst := start(t, "kafka", cl.URL(), sdk.Config{"publish_timeout": "3s", "start_offset": "earliest"}, []sdk.Route{{ID: 1, Resource: "t"}}, rec)
	publish(t, inst, "t", nil, "before")
	rec.wait(t, 1, 20*time.Second)

	cl.Stop()
	ctx := context.Background()
	wantUnreachable(t, "publish", inst.Publish(ctx, "t", nil, []byte("during")))
	wantUnreachable(t, "health", inst.Health(ctx))

	cl.Restart()
	t0 := time.Now()
	publishUntilOK(t, inst, "t", "after", 20*time.Second)
	t.Logf("publishing again %s after the restart", time.Since(t0).Round(time.Millisecond))
	// "before" may come twice: its offset commit may not have reached the broker
	// before it stopped (at least once).
	rec.waitFor(t, `"after"`, func(got []string) bool { return slices.Contains(got, "after") }, 30*time.Second)
	t.Logf("consuming again %s after the restart", time.Since(t0).Round(time.Millisecond))
	if err := inst.Health(ctx); err != nil {
		t.Errorf("health after the broker returned: %v", err)
	}
}

// Closing while the broker is down returns in bounded time, saying the final commit
// failed.
func TestCloseWhileBrokerDown(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "t"))
	rec := newRecorder()
	inst := start(t, "kafka", cl.URL(), sdk.Config{"start_offset": "earliest", "commit_interval": "1h"}, []sdk.Route{{ID: 1, Resource: "t"}}, rec)
	produce(t, cl.Addr, "t", "v")
	rec.wait(t, 1, 20*time.Second)
	cl.Stop()
	t0 := time.Now()
	err := inst.Close(context.Background())
	if d := time.Since(t0); d > 15*time.Second {
		t.Errorf("close took %s with the broker down", d)
	}
	if err == nil || !strings.Contains(err.Error(), "committing offsets") {
		t.Errorf("close with the broker down and an uncommitted value: %v, want an error about committing offsets", err)
	}
}

// A consumer group whose broker went away reports healthy once it joined the group
// again, before any new record arrives (it used to keep the join error until then).
func TestHealthRecoversWithoutNewRecords(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "in"))
	logs := &syncbuf.Buffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Warn})
	inst := startLogging(t, "kafka", cl.URL(), sdk.Config{"session_timeout": "6s", "group": "g"},
		[]sdk.Route{{ID: 1, Resource: "in"}}, newRecorder(), log)
	ctx := context.Background()
	waitHealthy := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := inst.Health(ctx)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health %s: %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitHealthy("at start")
	waitGroupStable(t, cl.Addr, "g") // only a member has a session to lose
	cl.Stop()
	wantUnreachable(t, "health", inst.Health(ctx))
	// The outage lasts until the consumer saw its group session fail (its next
	// heartbeat, one each 2 s with a 6 s session, found the broker gone): the
	// connector logs the error it keeps for Health then.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.String(), "unable to join group session"); {
		if time.Now().After(deadline) {
			t.Fatalf("the consumer did not report its group session failing; log:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cl.Restart()
	waitHealthy("after the broker returned, with no new record")
}
