package modbus_test

import (
	"sync"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/modbus/modbustest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// TestExceptionsMapToKinds: the exceptions a device answers become error kinds the
// host acts on (permanent: dead-lettered; retryable: sent again), a device that does
// not answer is a timeout, and values that do not fit their registers are refused for
// good without a request.
func TestExceptionsMapToKinds(t *testing.T) {
	modbustest.Require(t)
	s := modbustest.StartTCP(t)
	links := []sdk.LinkSpec{
		{Resource: "holding/20000"},                                                  // beyond the device's 10000 registers
		{Resource: "101/holding/0"},                                                  // illegal function
		{Resource: "103/holding/0"},                                                  // illegal data value
		{Resource: "111/holding/0"},                                                  // gateway: target failed to respond
		{Resource: "110/holding/0"},                                                  // gateway: path unavailable
		{Resource: "106/holding/0"},                                                  // server device busy
		{Resource: "105/holding/0"},                                                  // acknowledge (busy with a long job)
		{Resource: "104/holding/0"},                                                  // server device failure
		{Resource: "108/holding/0"},                                                  // memory parity error
		{Resource: "99/holding/0"},                                                   // never answers
		{Resource: "holding/0", Config: sdk.Config{"type": "int16"}},                 // 40000 does not fit
		{Resource: "holding/0:2", Config: sdk.Config{"type": "string"}},              // 5 bytes in 4
		{Resource: "coil/0", Config: sdk.Config{}},                                   // not a bool
		{Resource: "holding/0", Config: sdk.Config{"type": "uint16"}},                // not an integer
		{Resource: "holding/0:123", Config: sdk.Config{"type": "raw"}},               // over the max payload
		{Resource: "holding/0:2", Config: sdk.Config{"type": "float32"}},             // NaN is not JSON
		{Resource: "holding/0:4", Config: sdk.Config{"type": "uint16"}},              // 3 values for 4
		{Resource: "holding/0", Config: sdk.Config{"type": "int16", "scale": "0.5"}}, // 20000 * 2 does not fit
	}
	// A read that fails skips its links; the others are read as usual.
	routes := map[string]sdk.Config{"holding/20000": {"poll": "20ms"}, "holding/5": {"poll": "20ms"}}
	inst, b := start(t, s.URL(), sdk.Config{"timeout": "200ms"}, routes, links)
	cases := []struct {
		payload string
		kind    sdk.ErrorKind
	}{
		{"1", sdk.KindInvalidDestination},
		{"1", sdk.KindInvalidDestination},
		{"1", sdk.KindRejected},
		{"1", sdk.KindConnectionFailed},
		{"1", sdk.KindConnectionFailed},
		{"1", sdk.KindBufferFull},
		{"1", sdk.KindBufferFull},
		{"1", sdk.KindConnectionFailed},
		{"1", sdk.KindConnectionFailed},
		{"1", sdk.KindTimeout},
		{"40000", sdk.KindRejected},
		{`"AimDB"`, sdk.KindMessageTooLarge},
		{"1", sdk.KindRejected},
		{"1.5", sdk.KindRejected},
		{string(make([]byte, 247)), sdk.KindMessageTooLarge},
		{"NaN", sdk.KindRejected},
		{"[1,2,3]", sdk.KindRejected},
		{"20000", sdk.KindRejected},
	}
	for i, c := range cases {
		err := publish(inst, uint32(i+1), c.payload)
		if sdk.KindOf(err) != c.kind {
			t.Errorf("write %.20q to %s: %v (kind %q), want kind %q", c.payload, links[i].Resource, err, sdk.KindOf(err), c.kind)
		}
		if err != nil && sdk.Retryable(err) != c.kind.Retryable() {
			t.Errorf("write to %s: retryable %v", links[i].Resource, sdk.Retryable(err))
		}
	}
	b.waitFor(t, "holding/5", "0")
	if got := b.values("holding/20000"); len(got) != 0 {
		t.Errorf("holding/20000, beyond the device, got %q", got)
	}
	if got := s.Writes(); got != 0 {
		t.Errorf("the server took %d writes; every one of these should have failed", got)
	}
}

// TestTimeoutsReconnect: three requests in a row that time out drop the connection;
// it is opened again by itself and the next write works.
func TestTimeoutsReconnect(t *testing.T) {
	modbustest.Require(t)
	s := modbustest.StartTCP(t)
	links := []sdk.LinkSpec{{Resource: "99/holding/0"}, {Resource: "holding/0"}}
	inst, _ := start(t, s.URL(), sdk.Config{"timeout": "100ms", "reconnect_min": "20ms", "reconnect_max": "50ms"}, nil, links)
	for i := 0; i < 3; i++ {
		if err := publish(inst, 1, "1"); sdk.KindOf(err) != sdk.KindTimeout {
			t.Fatalf("write %d to the silent unit: %v, want a timeout", i+1, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for metric(inst, "modbus_connects_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("connects: %v after 3 timeouts, want a second connection", metric(inst, "modbus_connects_total"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitHealthy(t, inst)
	if err := publish(inst, 2, "7"); err != nil {
		t.Fatalf("write after the reconnect: %v", err)
	}
	eventually(t, "holding/0 = 7 on the server", func() bool { return s.Registers(1, "holding", 0, 1)[0] == 7 })
}

// TestOnChange: a link_from publishes a value once until it changes; with on_change =
// false it publishes every poll.
func TestOnChange(t *testing.T) {
	modbustest.Require(t)
	s := modbustest.StartTCP(t)
	routes := map[string]sdk.Config{
		"holding/0": {"poll": "20ms"},
		"input/0":   {"poll": "20ms", "on_change": "false"},
	}
	_, b := start(t, s.URL(), sdk.Config{}, routes, nil)
	b.waitFor(t, "holding/0", "0")
	set(t, s, 1, "holding", 0, 5)
	b.waitFor(t, "holding/0", "5")
	polls := s.Reads() // one holding and one input read request per poll
	for s.Reads() < polls+10 {
		time.Sleep(5 * time.Millisecond)
	}
	if got := b.values("holding/0"); len(got) != 2 {
		t.Errorf("holding/0 over 5 more polls: %q, want [0 5]", got)
	}
	if got := b.values("input/0"); len(got) < 5 {
		t.Errorf("input/0 with on_change = false: %d values, want one per poll", len(got))
	}
}

// TestHostRefusals: a value the host refused for now (buffer full) is offered again
// at the next poll although it did not change; one it refused for good (rejected) is
// not; and while the host holds a value unanswered, no poll follows.
func TestHostRefusals(t *testing.T) {
	modbustest.Require(t)
	s := modbustest.StartTCP(t)
	b := newInbox()
	var mu sync.Mutex
	held := map[string]func(error){}
	b.answer = func(m run.Message, ack func(error)) {
		switch {
		case m.Topic == "holding/0" && len(b.values(m.Topic)) == 1:
			ack(sdk.Errorf(sdk.KindBufferFull, "full"))
		case m.Topic == "holding/1":
			ack(sdk.Errorf(sdk.KindRejected, "does not deserialize"))
		case m.Topic == "holding/2" && string(m.Payload) == "9":
			mu.Lock()
			held[m.Topic] = ack
			mu.Unlock()
		default:
			ack(nil)
		}
	}
	routes := map[string]sdk.Config{"holding/0": {"poll": "20ms"}, "holding/1": {"poll": "20ms"}, "holding/2": {"poll": "20ms"}}
	startWith(t, b, s.URL(), sdk.Config{}, routes, nil)
	eventually(t, "holding/0 offered twice", func() bool { return len(b.values("holding/0")) == 2 })
	set(t, s, 1, "holding", 2, 9)
	eventually(t, "holding/2 = 9 held by the host", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return held["holding/2"] != nil
	})
	reads := stableReads(s)            // the held poll's own report may come after its answer
	time.Sleep(200 * time.Millisecond) // 10 poll intervals
	if got := s.Reads(); got != reads {
		t.Errorf("%d polls while the host held a value; want none", got-reads)
	}
	mu.Lock()
	held["holding/2"](nil)
	mu.Unlock()
	eventually(t, "polls again once the host took the value", func() bool { return s.Reads() > reads })
	if got := b.values("holding/1"); len(got) != 1 {
		t.Errorf("holding/1, refused for good: offered %d times, want once", len(got))
	}
	if got := b.values("holding/0"); len(got) != 2 {
		t.Errorf("holding/0, refused once for now: offered %d times, want twice", len(got))
	}
}
