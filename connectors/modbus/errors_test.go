package modbus_test

import (
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/modbus/modbustest"
	"github.com/aimdb-dev/aimdb-go/sdk"
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
		{Resource: "11/holding/0"},                                                   // gateway: target failed to respond
		{Resource: "10/holding/0"},                                                   // gateway: path unavailable
		{Resource: "6/holding/0"},                                                    // server device busy
		{Resource: "4/holding/0"},                                                    // server device failure
		{Resource: "99/holding/0"},                                                   // never answers
		{Resource: "holding/0", Config: sdk.Config{"type": "int16"}},                 // 40000 does not fit
		{Resource: "holding/0:2", Config: sdk.Config{"type": "string"}},              // 5 bytes in 4
		{Resource: "coil/0", Config: sdk.Config{}},                                   // not a bool
		{Resource: "holding/0", Config: sdk.Config{"type": "uint16"}},                // not an integer
		{Resource: "holding/0:123", Config: sdk.Config{"type": "raw"}},               // over the max payload
		{Resource: "holding/0:2", Config: sdk.Config{"type": "float32"}},             // NaN has no JSON
		{Resource: "holding/0:4", Config: sdk.Config{"type": "uint16"}},              // 3 values for 4
		{Resource: "holding/0", Config: sdk.Config{"type": "int16", "scale": "0.5"}}, // 20000 * 2 does not fit
	}
	inst, _ := start(t, s.URL(), sdk.Config{"timeout": "200ms"}, nil, links)
	cases := []struct {
		payload string
		kind    sdk.ErrorKind
	}{
		{"1", sdk.KindInvalidDestination},
		{"1", sdk.KindConnectionFailed},
		{"1", sdk.KindConnectionFailed},
		{"1", sdk.KindBufferFull},
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
