package faults

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxtest"
)

// TestKnxdRestartNewestValueArrives: knxd is stopped and started again (inside the
// suite's network namespace) while a single_latest record linked to a group address
// is set 19 times; after the restart the newest value is on the bus, last, every
// value was either sent or counted as dropped (a newer one replaced it), and the
// values the newest replaced are not replayed.
func TestKnxdRestartNewestValueArrives(t *testing.T) {
	t.Parallel() // light (a low rate, mostly waiting): runs beside the other light tests
	knxtest.Require(t)
	peer := knxtest.Start(t)
	h := startHub(t, fmt.Sprintf(`connector "knx" {
  url           = "%s"
  reconnect_min = "200ms"
  reconnect_max = "1s"
  retry_max     = "500ms"
}
record "setpoint" {
  buffer   = "single_latest"
  writable = true
  link_to "knx://1/2/3" { dpt = "7.001" }
}
`, peer.URL()), hubOptions{})
	h.waitConnected(15*time.Second, "knx")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bus, err := peer.Observe(ctx, "1/2/3")
	if err != nil {
		t.Fatal(err)
	}
	h.cli("record", "set", "setpoint", "1")
	if v := nextBusValue(t, bus, 10*time.Second); v != 1 {
		t.Fatalf("first value on the bus: %d, want 1", v)
	}

	if err := peer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	const newest = 20
	for v := 2; v <= newest; v++ {
		h.cli("record", "set", "setpoint", strconv.Itoa(v))
	}
	l := h.waitLink("setpoint", "knx://1/2/3", 15*time.Second, "retrying", func(l linkStatus) bool { return l.State == "retrying" })
	t.Logf("knxd stopped, values 2..%d set; link: %s: %s", newest, l.LastError.Kind, l.LastError.Text)
	if err := peer.Start(ctx); err != nil {
		t.Fatal(err)
	}

	seen := []uint16{1}
	for seen[len(seen)-1] != newest {
		seen = append(seen, nextBusValue(t, bus, 30*time.Second))
	}
	select {
	case p := <-bus:
		t.Errorf("after the newest value, the bus saw %x", p)
	case <-time.After(time.Second):
	}
	l = h.link("setpoint", "knx://1/2/3")
	t.Logf("set %d values; the bus saw %v; link: delivered %d, dropped %d, failed %d, retried %d",
		newest, seen, l.Stats.Delivered, l.Stats.Dropped, l.Stats.Failed, l.Stats.Retried)
	if got := l.Stats.Delivered + l.Stats.Dropped + l.Stats.DeadLettered; got != newest || l.Stats.Delivered != uint64(len(seen)) {
		t.Errorf("delivered %d + dropped %d + dead-lettered %d, want %d; delivered, want the %d values the bus saw",
			l.Stats.Delivered, l.Stats.Dropped, l.Stats.DeadLettered, newest, len(seen))
	}
	// docs/delivery.md: "records are usually single_latest: the newest value is sent
	// after a gateway outage"; at most the value being retried when the outage began
	// may go before it.
	if stale := len(seen) - 2; stale > 1 {
		t.Errorf("after the outage the bus replayed %d stale values of a single_latest record before the newest (%v)", stale, seen)
	}
}

// nextBusValue is the next DPT 7.001 (2-byte unsigned) group write on the bus.
func nextBusValue(t *testing.T, bus <-chan []byte, d time.Duration) uint16 {
	t.Helper()
	select {
	case p := <-bus:
		if len(p) != 2 {
			t.Fatalf("group write %x is not DPT 7.001", p)
		}
		return binary.BigEndian.Uint16(p)
	case <-time.After(d):
		t.Fatalf("no group write to 1/2/3 within %v", d)
		return 0
	}
}
