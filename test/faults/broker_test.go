package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// Sizes of the broker-kill tests: 20,000 values at 2,500/s, the broker SIGKILLed once
// 5,000 have arrived and started again 3 s later.
const (
	killValues   = 20000
	killRate     = 2500
	killAfter    = 5000
	brokerOutage = 3 * time.Second
)

// bridgeConfig links record "seq": link_from "in://in/seq" (QoS 1, a persistent
// session on broker in) to link_to "out://out/seq" (QoS 1 on broker out). record and
// linkTo are extra attributes of the record and of its link_to.
func bridgeConfig(in, out, record, linkTo string) string {
	return fmt.Sprintf(`connector "in" {
  plugin        = "mqtt"
  url           = "mqtt://%s"
  client_id     = "aimdb-faults-in"
  clean_session = false
  reconnect_max = "500ms"
}
connector "out" {
  plugin        = "mqtt"
  url           = "mqtt://%s"
  reconnect_max = "500ms"
  retry_max     = "500ms"
}
record "seq" {
  %s
  link_from "in://in/seq" { qos = 1 }
  link_to "out://out/seq" {
    qos = 1
    %s
  }
}
`, in, out, record, linkTo)
}

// TestBrokerKilledLargeRing: mosquitto SIGKILLed in the middle of 20,000 QoS 1 values
// and started again after 3 s; the record's ring holds everything that waits.
func TestBrokerKilledLargeRing(t *testing.T) {
	testBrokerKilled(t, "capacity = 32768", "")
}

// TestBrokerKilledDiskOutbox: the same through a ring of 64 with a disk outbox, which
// takes what waits.
func TestBrokerKilledDiskOutbox(t *testing.T) {
	testBrokerKilled(t, "capacity = 64", `outbox = "disk"`)
}

// testBrokerKilled feeds the record from a second broker that stays up, so the values
// are accepted by AimDB (taken from their broker) whatever happens to the first.
//
// The values are collected by a QoS 0 subscriber with a persistent session that stays
// connected (and reconnects after the restart). A subscriber that collects afterwards
// from the broker's queue would lose what mosquitto had not yet autosaved when it was
// SIGKILLed, although it had acknowledged it: the broker's loss, not AimDB's. A QoS 0
// subscriber gets every message written to its socket before mosquitto acknowledges
// the publish, and sends nothing the broker would leave unread (unread data makes the
// kernel reset the connection and drop what was written).
func testBrokerKilled(t *testing.T, record, linkTo string) {
	out, in := startBroker(t, true), startBroker(t, false)
	arrived := seqload.NewCounter(killValues)
	subscribed := time.Now()
	collect(t, out.Addr, "out/seq", 0, true, arrived)
	waitAutosave(t, out, subscribed) // the subscriber's session must survive the SIGKILL

	h := startHub(t, bridgeConfig(in.Addr, out.Addr, record, linkTo), hubOptions{})
	h.waitConnected(10*time.Second, "in", "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fed := feedMQTT(ctx, t, in.Addr, "in/seq", killValues, killRate, arrived)

	waitFor(t, 30*time.Second, fmt.Sprintf("%d values arrived before the kill", killAfter), func() bool { return arrived.Arrived() >= killAfter })
	out.Kill()
	t.Logf("broker SIGKILLed after %d values arrived", arrived.Arrived())
	l := h.waitLink("seq", "out://out/seq", 10*time.Second, "retrying", func(l control.LinkStatus) bool {
		return l.State == "retrying" && l.LastError != nil
	})
	t.Logf("during the outage: state %s, last error %s: %s", l.State, l.LastError.Kind, l.LastError.Text)
	time.Sleep(brokerOutage)
	l = h.link("seq", "out://out/seq")
	t.Logf("after %v down: received %d, delivered %d, backlog %d, outbox %d messages", brokerOutage,
		h.link("seq", "in://in/seq").Stats.Received, l.Stats.Delivered, l.Backlog, l.OutboxMessages)
	if linkTo != "" && l.OutboxMessages == 0 {
		t.Errorf("the disk outbox is empty during the outage: %s", linkSummary(l))
	}
	out.Start()

	waitFeed(t, fed, time.Minute)
	r := waitArrived(t, arrived, time.Minute, 20*time.Second)
	l = h.link("seq", "out://out/seq")
	t.Logf("link: delivered %d, failed %d, retried %d, dead-lettered %d, dropped %d",
		l.Stats.Delivered, l.Stats.Failed, l.Stats.Retried, l.Stats.DeadLettered, l.Stats.Dropped)
	checkCounts(t, "broker SIGKILLed", r, l.Stats.Retried, l.Stats.Retried)
	if l.Stats.Failed == 0 {
		t.Errorf("no publish failed: the kill did not hit the stream")
	}
	if l.Stats.DeadLettered != 0 || l.Stats.Dropped != 0 {
		t.Errorf("link dead-lettered %d and dropped %d values, want none", l.Stats.DeadLettered, l.Stats.Dropped)
	}
}

// waitAutosave waits until a persistent mosquitto saved its database after since.
func waitAutosave(t *testing.T, m *mqtttest.Mosquitto, since time.Time) {
	t.Helper()
	waitFor(t, 10*time.Second, "mosquitto autosaved its database", func() bool {
		st, err := os.Stat(filepath.Join(m.Dir, "mosquitto.db"))
		return err == nil && st.ModTime().After(since)
	})
}
