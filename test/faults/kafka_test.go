package faults

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// Sizes of the Kafka test: 4,000 values at 500/s, the connection cut for 5 s once
// 1,000 are confirmed.
const (
	kafkaValues = 4000
	kafkaRate   = 500
	kafkaOutage = 5 * time.Second
)

// kafkaBehindProxy starts a one-broker kfake cluster holding topic "out" and a
// cuttable TCP proxy in front of it. The broker advertises the proxy's address in
// its metadata, so every client connection, after the bootstrap too, goes through
// the proxy. It returns the proxy; both stop when the test ends.
func kafkaBehindProxy(t *testing.T) *mqtttest.Proxy {
	t.Helper()
	port := mqtttest.FreePort(t)
	proxy := mqtttest.NewProxy(t, fmt.Sprintf("127.0.0.1:%d", port))
	advertised, err := net.ResolveTCPAddr("tcp", proxy.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, "out"),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			return advertisedListener{ln, advertised}, err
		}))
	if err != nil {
		t.Fatalf("kfake on port %d: %v", port, err)
	}
	t.Cleanup(cl.Close)
	return proxy
}

// advertisedListener reports another address than the one it listens on.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

// TestKafkaConnectionCut: the connection between AimDB and Kafka is cut, and new
// connections refused, for 5 s in the middle of the stream; every value is in the
// topic afterwards (read back from the start with franz-go).
func TestKafkaConnectionCut(t *testing.T) {
	t.Parallel() // light (a low rate, mostly waiting): runs beside the other light tests
	proxy := kafkaBehindProxy(t)
	listen := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, fmt.Sprintf(`connector "kafka" {
  url             = "kafka://%s"
  publish_timeout = "2s"
  retry_max       = "1s"
}
connector "hooks" {
  plugin = "http"
  listen = "%s"
}
record "seq" {
  capacity = 8192
  link_from "hooks://in/seq" {}
  link_to "kafka://out" {}
}
`, proxy.Addr, listen), hubOptions{})
	h.waitConnected(15*time.Second, "kafka")
	sent := seqload.NewCounter(kafkaValues)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fed := feedHTTP(ctx, listen, "in/seq", kafkaValues, kafkaRate, sent)

	h.waitLink("seq", "kafka://out", 30*time.Second, "1000 delivered", func(l linkStatus) bool { return l.Stats.Delivered >= 1000 })
	proxy.Block()
	t.Logf("connection cut after %d values delivered", h.link("seq", "kafka://out").Stats.Delivered)
	l := h.waitLink("seq", "kafka://out", 10*time.Second, "failing over", func(l linkStatus) bool { return l.State == "retrying" })
	t.Logf("during the cut: last error %s: %s", l.LastError.Kind, l.LastError.Text)
	time.Sleep(kafkaOutage)
	proxy.Unblock()

	waitFeed(t, fed, time.Minute)
	l = h.waitLink("seq", "kafka://out", time.Minute, "done", func(l linkStatus) bool { return l.Stats.Delivered >= kafkaValues && l.InFlight == 0 })
	t.Logf("link: delivered %d, failed %d, retried %d, dead-lettered %d", l.Stats.Delivered, l.Stats.Failed, l.Stats.Retried, l.Stats.DeadLettered)
	arrived := seqload.NewCounter(kafkaValues)
	arrived.AddSent(sent.Report().Sent)
	readTopic(t, proxy.Addr, "out", kafkaValues, arrived)
	checkCounts(t, "kafka connection cut 5s", arrived.Report(), l.Stats.Retried, l.Stats.Retried)
	if l.Stats.Failed == 0 {
		t.Errorf("no publish failed: the cut did not hit the stream")
	}
}

// readTopic reads partition 0 of topic from the start until want records were read
// or nothing came for 5 s, counting every value in ctr.
func readTopic(t *testing.T, addr, topic string, want int, ctr *seqload.Counter) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	read := 0
	for deadline := time.Now().Add(time.Minute); read < want; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			_ = ctr.Observe(r.Value)
			n++
		})
		read += n
		if n == 0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("read %d records of %s", read, topic)
}
