package faults

import (
	"testing"
	"time"
)

// Sizes of the broker-kill tests: 20,000 values at 4,000/s, the broker SIGKILLed once
// 5,000 have arrived and started again 3 s later.
const (
	killValues   = 20000
	killRate     = 4000
	killAfter    = 5000
	brokerOutage = 3 * time.Second
)

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

// testBrokerKilled SIGKILLs the broker the link_to publishes to, with its persistence
// on, and starts it again after 3 s; the collector's session survives (see
// type bridge on why it is a connected QoS 0 subscriber).
func testBrokerKilled(t *testing.T, record, linkTo string) {
	b := startBridge(t, bridgeOptions{record: record, linkTo: linkTo, outPersistent: true, values: killValues, rate: killRate})
	b.feed()
	b.waitArrived(killAfter)
	b.out.Kill()
	t.Logf("broker SIGKILLed after %d values arrived", b.arrived.Arrived())
	l := b.h.waitLink("seq", "out://out/seq", 10*time.Second, "retrying", func(l linkStatus) bool {
		return l.State == "retrying" && l.LastError != nil
	})
	t.Logf("during the outage: state %s, last error %s: %s", l.State, l.LastError.Kind, l.LastError.Text)
	time.Sleep(brokerOutage)
	l = b.h.link("seq", "out://out/seq")
	t.Logf("after %v down: received %d, delivered %d, backlog %d, outbox %d messages", brokerOutage,
		b.h.link("seq", "in://in/seq").Stats.Received, l.Stats.Delivered, l.Backlog, l.OutboxMessages)
	if linkTo != "" && l.OutboxMessages == 0 {
		t.Errorf("the disk outbox is empty during the outage: %s", linkSummary(l))
	}
	b.out.Start()
	l = b.finish("broker SIGKILLed", true)
	if l.Stats.Failed == 0 {
		t.Errorf("no publish failed: the kill did not hit the stream")
	}
}
