package mqtt_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

func TestOutboundQoSAndRetainSeenFromOutside(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	checker := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	checker.Subscribe("out/#", 2)
	inst := start(t, "mqtt", broker.URL(false), nil)
	inst.waitHealthy(t, 5*time.Second)

	for _, tc := range []struct {
		topic string
		cfg   sdk.Config
		qos   byte
	}{
		{"out/q0", sdk.Config{"qos": "0"}, 0},
		{"out/q1", sdk.Config{"qos": "1"}, 1},
		{"out/q2", sdk.Config{"qos": "2"}, 2},
		{"out/default", nil, 1}, // qos defaults to 1
	} {
		inst.publish(t, tc.topic, tc.cfg, []byte("v-"+tc.topic))
		m := checker.Next(5 * time.Second)
		if m.Topic != tc.topic || string(m.Payload) != "v-"+tc.topic || m.QoS != tc.qos || m.Retained {
			t.Fatalf("got %+v (payload %q), want topic %q qos %d not retained", m, m.Payload, tc.topic, tc.qos)
		}
	}

	inst.publish(t, "out/retained", sdk.Config{"qos": "1", "retain": "true"}, []byte("kept"))
	checker.Next(5 * time.Second)
	late := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	late.Subscribe("out/retained", 1)
	if m := late.Next(5 * time.Second); !m.Retained || string(m.Payload) != "kept" {
		t.Fatalf("late subscriber got %+v (payload %q), want the retained value", m, m.Payload)
	}
	if st := inst.conn.Stats(); st.Published != 5 || !st.Connected || st.Connects != 1 {
		t.Fatalf("stats = %+v, want 5 published on one connection", st)
	}
}

func TestInboundRoutesWildcardsAndRetainedSeed(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	outside := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	outside.Publish("cfg/mode", 1, true, []byte("auto")) // retained before the connector exists

	inst := start(t, "mqtt", broker.URL(false), nil,
		route(1, "cfg/mode", sdk.Config{"qos": "1"}),
		route(2, "sensors/+/temp", sdk.Config{"qos": "1"}),
		route(3, "alarms/#", sdk.Config{"qos": "2"}),
		route(4, "plain/qos0", sdk.Config{"qos": "0"}),
	)
	if m := inst.sink.next(t, 5*time.Second); m != (received{1, "cfg/mode", "auto", nil}) {
		t.Fatalf("retained seed: got %+v", m)
	}
	inst.waitHealthy(t, 5*time.Second)

	sends := []struct {
		topic string
		want  uint32 // route id, 0 for none
	}{
		{"sensors/kitchen/temp", 2},
		{"sensors/hall/temp", 2},
		{"sensors/hall/humidity", 0},
		{"alarms", 3}, // "#" matches the parent level too
		{"alarms/fire/high", 3},
		{"plain/qos0", 4},
		{"other/topic", 0},
	}
	for i, s := range sends {
		outside.Publish(s.topic, 1, false, []byte(fmt.Sprint(i)))
		if s.want == 0 {
			continue
		}
		if m := inst.sink.next(t, 5*time.Second); m != (received{s.want, s.topic, fmt.Sprint(i), nil}) {
			t.Fatalf("send %d on %q: got %+v, want route %d", i, s.topic, m, s.want)
		}
	}
	inst.sink.quiet(t, 200*time.Millisecond)
	if st := inst.conn.Stats(); st.Delivered != 6 || st.Rejected != 0 {
		t.Fatalf("stats = %+v, want 6 delivered", st)
	}
}

// Upstream once deadlocked when a connector subscribed to more than 10 topics.
func TestManyInboundTopicsAtOnce(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	const n = 40
	var routes []sdk.Route
	for i := range n {
		routes = append(routes, route(uint32(100+i), fmt.Sprintf("many/%d", i), nil))
	}
	inst := start(t, "mqtt", broker.URL(false), nil, routes...)
	inst.waitHealthy(t, 5*time.Second)
	outside := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	for round := range 3 {
		for i := range n {
			outside.Publish(fmt.Sprintf("many/%d", i), 1, false, []byte(fmt.Sprint(round)))
		}
	}
	got := map[uint32]int{}
	for range 3 * n {
		m := inst.sink.next(t, 5*time.Second)
		if want := fmt.Sprintf("many/%d", m.RouteID-100); m.Topic != want {
			t.Fatalf("route %d got topic %q, want %q", m.RouteID, m.Topic, want)
		}
		got[m.RouteID]++
	}
	for i := range n {
		if got[uint32(100+i)] != 3 {
			t.Fatalf("route %d got %d messages, want 3", 100+i, got[uint32(100+i)])
		}
	}
}

func TestOneMiBPayloadBothWays(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	payload := make([]byte, 1<<20)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	inst := start(t, "mqtt", broker.URL(false), nil, route(1, "big/in", nil))
	inst.waitHealthy(t, 5*time.Second)
	outside := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	outside.Subscribe("big/out", 1)

	inst.publish(t, "big/out", nil, payload)
	if m := outside.Next(10 * time.Second); !bytes.Equal(m.Payload, payload) {
		t.Fatalf("outbound: got %d bytes, want the same 1 MiB", len(m.Payload))
	}
	outside.Publish("big/in", 1, false, payload)
	if m := inst.sink.next(t, 10*time.Second); m.Payload != string(payload) {
		t.Fatalf("inbound: got %d bytes, want the same 1 MiB", len(m.Payload))
	}
}

func TestTwoInstancesOnTwoBrokersStayApart(t *testing.T) {
	t.Parallel()
	brokerA := mqtttest.StartMosquitto(t, mqtttest.Options{})
	brokerB := mqtttest.StartMosquitto(t, mqtttest.Options{})
	a := start(t, "plant-a", brokerA.URL(false), nil, route(1, "data/#", nil))
	b := start(t, "plant-b", brokerB.URL(false), nil, route(1, "data/#", nil))
	a.waitHealthy(t, 5*time.Second)
	b.waitHealthy(t, 5*time.Second)
	onA := mqtttest.Connect(t, brokerA.Addr, mqtttest.ClientOptions{})
	onB := mqtttest.Connect(t, brokerB.Addr, mqtttest.ClientOptions{})
	onA.Subscribe("out/#", 1)
	onB.Subscribe("out/#", 1)

	onA.Publish("data/x", 1, false, []byte("for-a"))
	onB.Publish("data/x", 1, false, []byte("for-b"))
	if m := a.sink.next(t, 5*time.Second); m.Payload != "for-a" {
		t.Fatalf("plant-a got %+v", m)
	}
	if m := b.sink.next(t, 5*time.Second); m.Payload != "for-b" {
		t.Fatalf("plant-b got %+v", m)
	}
	a.publish(t, "out/y", nil, []byte("from-a"))
	b.publish(t, "out/y", nil, []byte("from-b"))
	if m := onA.Next(5 * time.Second); string(m.Payload) != "from-a" {
		t.Fatalf("broker A got %q", m.Payload)
	}
	if m := onB.Next(5 * time.Second); string(m.Payload) != "from-b" {
		t.Fatalf("broker B got %q", m.Payload)
	}
	a.sink.quiet(t, 100*time.Millisecond)
	b.sink.quiet(t, 100*time.Millisecond)
	onA.Quiet(100 * time.Millisecond)
	onB.Quiet(100 * time.Millisecond)
}
