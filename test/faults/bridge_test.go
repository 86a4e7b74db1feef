package faults

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// bridgeConfig links record "seq": link_from "in://in/seq" (QoS 1, a persistent
// session on broker in, so what AimDB did not acknowledge is delivered again) to
// link_to "out://out/seq" (QoS 1 on broker out). record and linkTo are extra
// attributes of the record and of its link_to.
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

// bridgeOptions shape a bridge run.
type bridgeOptions struct {
	record, linkTo string // extra attributes (see bridgeConfig)
	outPersistent  bool   // the out broker keeps its state across a restart
	outProxy       bool   // the hub reaches the out broker through a cuttable proxy
	values         uint64
	rate           float64 // values per second fed into the in broker
	hub            hubOptions
}

// bridge is a running MQTT bridge between two mosquittos, fed with sequence-numbered
// values through the in broker, which stays up: a value is accepted by AimDB once it
// took it from there, whatever happens to the out broker, the plugin or the host.
//
// The values are counted by a QoS 0 subscriber with a persistent session that stays
// connected to the out broker (and reconnects after a restart). A subscriber that
// collects afterwards from the broker's queue would lose what mosquitto had not yet
// autosaved when it was SIGKILLed, although it had acknowledged it: the broker's loss,
// not AimDB's. A QoS 0 subscriber gets every message written to its socket before
// mosquitto acknowledges the publish, and sends nothing the broker would leave unread
// (unread data makes the kernel reset the connection and drop what was written).
type bridge struct {
	t       *testing.T
	h       *hub
	in, out *mqtttest.Mosquitto
	arrived *seqload.Counter
	proxy   *mqtttest.Proxy // between the hub and the out broker, with outProxy
	fed     <-chan error
	o       bridgeOptions
}

// startBridge starts the brokers, the collector and the hub.
func startBridge(t *testing.T, o bridgeOptions) *bridge {
	t.Helper()
	b := &bridge{t: t, out: startBroker(t, o.outPersistent), in: startBroker(t, false), arrived: seqload.NewCounter(o.values), o: o}
	subscribed := time.Now()
	collect(t, b.out.Addr, "out/seq", 0, true, b.arrived)
	if o.outPersistent {
		waitAutosave(t, b.out, subscribed) // the collector's session must survive a SIGKILL
	}
	outAddr := b.out.Addr
	if o.outProxy {
		b.proxy = mqtttest.NewProxy(t, b.out.Addr)
		outAddr = b.proxy.Addr
	}
	b.h = startHub(t, bridgeConfig(b.in.Addr, outAddr, o.record, o.linkTo), o.hub)
	b.h.waitConnected(10*time.Second, "in", "out")
	return b
}

// feed starts publishing the values into the in broker.
func (b *bridge) feed() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	b.t.Cleanup(cancel)
	b.fed = feedMQTT(ctx, b.t, b.in.Addr, "in/seq", b.o.values, b.o.rate, b.arrived)
}

// waitArrived waits until n values arrived at the collector.
func (b *bridge) waitArrived(n uint64) {
	b.t.Helper()
	waitFor(b.t, 30*time.Second, fmt.Sprintf("%d values arrived", n), func() bool { return b.arrived.Arrived() >= n })
}

// finish waits for the feeder and the values, prints the counts and checks that none
// was lost. With boundDups, duplicates must be explained by the link_to's retries and
// the link_from's redeliveries (its counters must span the whole run).
func (b *bridge) finish(what string, boundDups bool) linkStatus {
	b.t.Helper()
	waitFeed(b.t, b.fed, 2*time.Minute)
	r := waitArrived(b.t, b.arrived, time.Minute, 10*time.Second)
	in, out := b.h.link("seq", "in://in/seq"), b.h.link("seq", "out://out/seq")
	b.t.Logf("link_from: received %d, %s, held %d; link_to: delivered %d, failed %d, retried %d, dead-lettered %d, dropped %d",
		in.Stats.Received, in.State, in.Held, out.Stats.Delivered, out.Stats.Failed, out.Stats.Retried, out.Stats.DeadLettered, out.Stats.Dropped)
	maxDups := uint64(math.MaxUint64)
	if boundDups {
		maxDups = out.Stats.Retried + in.Stats.Received - min(in.Stats.Received, r.Sent)
	}
	checkCounts(b.t, what, r, maxDups, maxDups)
	if out.Stats.DeadLettered != 0 || out.Stats.Dropped != 0 {
		b.t.Errorf("link_to dead-lettered %d and dropped %d values, want none", out.Stats.DeadLettered, out.Stats.Dropped)
	}
	return out
}

// waitAutosave waits until a persistent mosquitto saved its database after since.
func waitAutosave(t *testing.T, m *mqtttest.Mosquitto, since time.Time) {
	t.Helper()
	waitFor(t, 10*time.Second, "mosquitto autosaved its database", func() bool {
		st, err := os.Stat(filepath.Join(m.Dir, "mosquitto.db"))
		return err == nil && st.ModTime().After(since)
	})
}
