package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// burstValues is the size of the burst the bridge tests push through a ring of 1024.
const burstValues = 50000

// burstConfig is an MQTT-to-MQTT bridge through one connector instance with a
// persistent session: in/seq at QoS inQoS into a ring of 1024, out to out/seq with the
// link_to attributes given.
func burstConfig(addr string, inQoS int, linkTo string) string {
	return fmt.Sprintf(`connector "mqtt" {
  url           = "mqtt://%s"
  client_id     = "aimdb-faults-bridge"
  clean_session = false
  reconnect_max = "500ms"
}
record "seq" {
  capacity = 1024
  link_from "mqtt://in/seq" { qos = %d }
  link_to "mqtt://out/seq" {
    %s
  }
}
`, addr, inQoS, linkTo)
}

// runBurst makes a real burst: the bridge runs once to register its session, the
// values are published while it is stopped (the broker queues them for the session),
// and the bridge starts again to get them all at once, as fast as the broker sends
// them. It waits until the link_to has dealt with every value the link_from received.
func runBurst(t *testing.T, inQoS int, linkTo string) (*hub, seqload.Report) {
	t.Helper()
	broker := startBroker(t, false)
	arrived := seqload.NewCounter(burstValues)
	collect(t, broker.Addr, "out/seq", 1, false, arrived)
	h := startHub(t, burstConfig(broker.Addr, inQoS, linkTo), hubOptions{})
	h.waitConnected(10*time.Second, "mqtt")
	if code := h.stop(10 * time.Second); code != 0 {
		t.Fatalf("aimdb exit status %d after SIGTERM", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitFeed(t, feedMQTT(ctx, t, broker.Addr, "in/seq", burstValues, 0, arrived), time.Minute)
	start := time.Now()
	h.start()
	h.waitLink("seq", "mqtt://in/seq", time.Minute, "done receiving", func(l linkStatus) bool { return l.Stats.Received == burstValues })
	h.waitLink("seq", "mqtt://out/seq", time.Minute, "done sending", func(l linkStatus) bool {
		return l.Stats.Delivered+l.Stats.Dropped+l.Stats.DeadLettered == burstValues && l.InFlight == 0
	})
	r := waitArrived(t, arrived, 30*time.Second, 3*time.Second)
	t.Logf("%d values bridged in %v", burstValues, time.Since(start).Round(time.Millisecond))
	return h, r
}

// TestBurstBackPressure: an at-least-once link_to holds its place in the ring; the
// record refuses values while it is full, so the link_from holds the broker's
// messages unacknowledged; nothing is lost.
func TestBurstBackPressure(t *testing.T) {
	h, r := runBurst(t, 1, "qos = 1")
	in, out := h.link("seq", "mqtt://in/seq"), h.link("seq", "mqtt://out/seq")
	t.Logf("link_from: received %d, refused %d; link_to %s: delivered %d, retried %d, dropped %d",
		in.Stats.Received, in.Stats.Refused, out.Delivery, out.Stats.Delivered, out.Stats.Retried, out.Stats.Dropped)
	checkCounts(t, "bridge at least once", r, out.Stats.Retried, 0)
	if out.Delivery != "at_least_once" || out.Stats.Dropped != 0 {
		t.Errorf("link_to: delivery %s, dropped %d; want at_least_once, 0", out.Delivery, out.Stats.Dropped)
	}
	if !strings.Contains(h.logs.String(), "link=mqtt://in/seq state=blocked") {
		t.Errorf("the link_from was never blocked: the burst did not fill the ring")
	}
}

// TestBurstBestEffortCountsDrops: a best-effort link_to never holds the record up;
// what it falls behind on is overwritten and counted as dropped, exactly: delivered +
// dropped is what the link_from received, and what is missing at the subscriber is
// what the link counted as dropped.
func TestBurstBestEffortCountsDrops(t *testing.T) {
	h, r := runBurst(t, 0, "qos = 1\n    delivery = \"best_effort\"")
	in, out := h.link("seq", "mqtt://in/seq"), h.link("seq", "mqtt://out/seq")
	logCounts(t, "bridge best effort", r)
	t.Logf("link_from: received %d, refused %d; link_to %s: delivered %d, dropped %d",
		in.Stats.Received, in.Stats.Refused, out.Delivery, out.Stats.Delivered, out.Stats.Dropped)
	if out.Delivery != "best_effort" {
		t.Errorf("link_to delivery %q, want best_effort", out.Delivery)
	}
	if got := out.Stats.Delivered + out.Stats.Dropped; got != in.Stats.Received || in.Stats.Received != burstValues {
		t.Errorf("delivered %d + dropped %d = %d, received %d, sent %d: want all equal",
			out.Stats.Delivered, out.Stats.Dropped, got, in.Stats.Received, burstValues)
	}
	if r.Lost != out.Stats.Dropped || r.Arrived != out.Stats.Delivered {
		t.Errorf("subscriber: %d arrived, %d missing; link: %d delivered, %d dropped: want the same",
			r.Arrived, r.Lost, out.Stats.Delivered, out.Stats.Dropped)
	}
	if r.Duplicates != 0 || r.Invalid != 0 {
		t.Errorf("%d duplicates, %d invalid payloads, want none", r.Duplicates, r.Invalid)
	}
}
