package mqtt_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

func TestEmbeddedBrokerRoundTrip(t *testing.T) {
	t.Parallel()
	inst := start(t, "demo", "mqtt://127.0.0.1", sdk.Config{"embedded_broker": "127.0.0.1:0"}, route(1, "demo/in/#", nil))
	inst.waitHealthy(t, 5*time.Second)
	addr := inst.conn.BrokerAddrs()[0]
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("embedded broker address %q", addr)
	}
	outside := mqtttest.Connect(t, addr, mqtttest.ClientOptions{})
	outside.Subscribe("demo/out", 1)
	outside.Publish("demo/in/a", 1, false, []byte("in"))
	if m := inst.sink.next(t, 5*time.Second); m != (received{1, "demo/in/a", "in", nil}) {
		t.Fatalf("inbound: %+v", m)
	}
	inst.publish(t, "demo/out", sdk.Config{"qos": "2"}, []byte("out"))
	if m := outside.Next(5 * time.Second); string(m.Payload) != "out" {
		t.Fatalf("outbound: %q", m.Payload)
	}

	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The broker went away with the instance: it dropped the outside client.
	deadline := time.Now().Add(5 * time.Second)
	for outside.Paho().IsConnectionOpen() {
		if time.Now().After(deadline) {
			t.Fatal("embedded broker still serves clients after Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEmbeddedBrokerPortTakenFailsBuild(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = run.Start(context.Background(), mqtt.NewBuilder(), run.Config{
		Name: "demo", URL: sdk.MustParseURL("mqtt://127.0.0.1"),
		Options: sdk.Config{"embedded_broker": ln.Addr().String()},
	})
	if sdk.KindOf(err) != sdk.KindConnectionFailed || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("err = %v, want connection failed naming %s", err, ln.Addr())
	}
}

// Overlapping link_from filters: each route gets a message once, whatever the broker
// does with overlapping subscriptions.
func TestOverlappingRoutesGetEachMessageOnce(t *testing.T) {
	t.Parallel()
	inst := start(t, "demo", "mqtt://127.0.0.1", sdk.Config{"embedded_broker": "127.0.0.1:0"},
		route(1, "ov/+/t", nil), route(2, "ov/k/t", sdk.Config{"qos": "2"}), route(3, "ov/#", sdk.Config{"qos": "0"}))
	inst.waitHealthy(t, 5*time.Second)
	outside := mqtttest.Connect(t, inst.conn.BrokerAddrs()[0], mqtttest.ClientOptions{})
	outside.Publish("ov/k/t", 2, false, []byte("once"))
	got := map[uint32]int{}
	for range 3 {
		got[inst.sink.next(t, 5*time.Second).RouteID]++
	}
	inst.sink.quiet(t, 300*time.Millisecond)
	if got[1] != 1 || got[2] != 1 || got[3] != 1 {
		t.Fatalf("deliveries per route: %v", got)
	}
}
