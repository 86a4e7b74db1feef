package knx

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

func TestKnxdTunnelInbound(t *testing.T) {
	k := startKnxd(t, false)
	rec := newRecorder()
	routes := []sdk.Route{
		{ID: 1, Resource: "1/2/4", Config: sdk.Config{"dpt": "9.001"}, Record: "temp"},
		{ID: 2, Resource: "1/2/3", Config: sdk.Config{"dpt": "1.001"}, Record: "light"},
		{ID: 3, Resource: "3/+/+", Record: "raw"},
		{ID: 4, Resource: "1/2/10", Config: sdk.Config{"dpt": "5.001"}, Record: "dimmer"},
	}
	inst := startConnector(t, sdk.MustParseURL(k.tunnelURL()), fastOptions(nil), routes, rec, nil)
	waitHealthy(t, inst)

	k.knxtool("groupwrite", "1/2/4", "0c", "1a")
	if m := rec.next(t, 5*time.Second); m.RouteID != 1 || m.Topic != "1/2/4" || string(m.Payload) != "21" {
		t.Fatalf("got %+v (%q), want 21 on 1/2/4", m, m.Payload)
	}
	k.knxtool("groupswrite", "1/2/3", "1")
	if m := rec.next(t, 5*time.Second); m.RouteID != 2 || string(m.Payload) != "true" {
		t.Fatalf("got %+v (%q), want true on 1/2/3", m, m.Payload)
	}
	k.knxtool("groupwrite", "3/1/7", "01", "02", "03")
	if m := rec.next(t, 5*time.Second); m.RouteID != 3 || m.Topic != "3/1/7" || string(m.Payload) != "\x01\x02\x03" {
		t.Fatalf("got %+v (%q), want raw 01 02 03 on 3/1/7", m, m.Payload)
	}
	// Single-octet long data (DPT 5.001): FF is 100 %, not 0.
	k.knxtool("groupwrite", "1/2/10", "ff")
	if m := rec.next(t, 5*time.Second); m.RouteID != 4 || string(m.Payload) != "100" {
		t.Fatalf("got %+v (%q), want 100 on 1/2/10", m, m.Payload)
	}
}

func TestKnxdTunnelPublish(t *testing.T) {
	k := startKnxd(t, false)
	inst := startConnector(t, sdk.MustParseURL(k.tunnelURL()), fastOptions(nil), nil, nil, nil)
	waitHealthy(t, inst)
	l := k.listen()
	for _, c := range []struct {
		dest    string
		cfg     sdk.Config
		payload string
		want    string
	}{
		{"1/2/5", sdk.Config{"dpt": "9.001"}, "21.5", "Write from 0.0.2 to 1/2/5: 0C 33"},
		{"1/2/6", sdk.Config{"dpt": "1.001"}, "true", "to 1/2/6: 01"},
		{"1/2/7", sdk.Config{"dpt": "5.001"}, "50", "to 1/2/7: 80"},
		{"1/2/8", sdk.Config{"dpt": "232.600"}, `{"r":255,"g":128,"b":0}`, "to 1/2/8: FF 80 00"},
		{"2563", sdk.Config{"dpt": "7.001"}, "258", "to 1/2/3: 01 02"},
		{"1/515", nil, "\x0A", "to 1/2/3: 0A"},
	} {
		if err := inst.Publish(t.Context(), c.dest, c.cfg, []byte(c.payload)); err != nil {
			t.Fatalf("Publish(%s, %s): %v", c.dest, c.payload, err)
		}
		l.expect(t, c.want)
	}
	// Out-of-range values are refused before they reach the bus.
	err := inst.Publish(t.Context(), "1/2/5", sdk.Config{"dpt": "5.001"}, []byte("101"))
	if err == nil || !strings.Contains(err.Error(), "DPT 5.001") || !strings.Contains(err.Error(), "0..100") {
		t.Fatalf("Publish 101 %% = %v, want a range error naming DPT 5.001", err)
	}
}

// TestKnxdReadInitAnsweredByAnotherTunnel: one connector instance answers reads for
// 1/2/9 (respond = true); a second one seeds its record with read = "init".
func TestKnxdReadInitAnsweredByAnotherTunnel(t *testing.T) {
	k := startKnxd(t, false)
	host := &fakeHost{}
	host.set([]byte("18.25"), nil)
	responder := startConnector(t, sdk.MustParseURL(k.tunnelURL()), fastOptions(nil), nil, nil, host)
	waitHealthy(t, responder)
	if err := responder.Publish(t.Context(), "1/2/9", sdk.Config{"dpt": "9.001", "respond": "true"}, []byte("19.5")); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	routes := []sdk.Route{{ID: 1, Resource: "1/2/9", Config: sdk.Config{"dpt": "9.001", "read": "init"}, Record: "seeded"}}
	startConnector(t, sdk.MustParseURL(k.tunnelURL()), fastOptions(nil), routes, rec, nil)
	if m := rec.next(t, 5*time.Second); m.Topic != "1/2/9" || string(m.Payload) != "18.25" {
		t.Fatalf("got %+v (%q), want the host's latest value 18.25", m, m.Payload)
	}
}

// TestKnxdRespondBeforeFirstPublish: a link_to with respond = true, declared at
// build, answers reads with the host's latest value before it ever published.
func TestKnxdRespondBeforeFirstPublish(t *testing.T) {
	k := startKnxd(t, false)
	host := &fakeHost{}
	host.set([]byte("true"), nil)
	responder, err := run.Start(t.Context(), NewBuilder(), run.Config{
		Name: "knx", URL: sdk.MustParseURL(k.tunnelURL()), Options: fastOptions(nil), Host: host, Logger: testLogger(t),
		Outbound: []sdk.LinkSpec{{Direction: sdk.Outbound, Resource: "1/2/10", Config: sdk.Config{"dpt": "1.001", "respond": "true"}, Record: "light"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { responder.Close(context.Background()) })
	waitHealthy(t, responder)
	rec := newRecorder()
	routes := []sdk.Route{{ID: 1, Resource: "1/2/10", Config: sdk.Config{"dpt": "1.001", "read": "init"}, Record: "seeded"}}
	startConnector(t, sdk.MustParseURL(k.tunnelURL()), fastOptions(nil), routes, rec, nil)
	if m := rec.next(t, 5*time.Second); string(m.Payload) != "true" {
		t.Fatalf("got %q, want the host's latest value true", m.Payload)
	}
}

func TestKnxdTunnelReconnectsAfterRestart(t *testing.T) {
	k := startKnxd(t, false)
	rec := newRecorder()
	routes := []sdk.Route{{ID: 1, Resource: "1/2/3", Config: sdk.Config{"dpt": "1.001"}}}
	inst := startConnector(t, sdk.MustParseURL(k.tunnelURL()), fastOptions(sdk.Config{"heartbeat": "200ms"}), routes, rec, nil)
	waitHealthy(t, inst)

	k.stop()
	deadline := time.Now().Add(5 * time.Second)
	for inst.Health(t.Context()) == nil {
		if time.Now().After(deadline) {
			t.Fatal("still healthy 5s after knxd stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	k.start()
	waitHealthy(t, inst)
	k.knxtool("groupswrite", "1/2/3", "1")
	if m := rec.next(t, 5*time.Second); string(m.Payload) != "true" {
		t.Fatalf("after reconnect got %q, want true", m.Payload)
	}
	l := k.listen()
	if err := inst.Publish(t.Context(), "1/2/4", sdk.Config{"dpt": "9.001"}, []byte("-30")); err != nil {
		t.Fatal(err)
	}
	l.expect(t, "to 1/2/4: 8A 24")
}

func TestKnxdRoutingBothWays(t *testing.T) {
	k := startKnxd(t, true)
	rec := newRecorder()
	routes := []sdk.Route{{ID: 1, Resource: "1/2/4", Config: sdk.Config{"dpt": "9.001"}}, {ID: 2, Resource: "5/+/+"}}
	u := sdk.MustParseURL(strings.Replace(k.tunnelURL(), "knx://127.0.0.1", "knx+routing://224.0.23.12", 1))
	inst := startConnector(t, u, sdk.Config{"address": "1.1.250"}, routes, rec, nil)
	waitHealthy(t, inst)

	k.knxtool("groupwrite", "1/2/4", "0c", "1a")
	if m := rec.next(t, 5*time.Second); m.Topic != "1/2/4" || string(m.Payload) != "21" {
		t.Fatalf("got %+v (%q), want 21 on 1/2/4", m, m.Payload)
	}
	l := k.listen()
	if err := inst.Publish(t.Context(), "1/2/5", sdk.Config{"dpt": "9.001"}, []byte("21.5")); err != nil {
		t.Fatal(err)
	}
	l.expect(t, "Write from 1.1.250 to 1/2/5: 0C 33")
	// Our own telegrams come back over multicast loopback; they must not be routed.
	if err := inst.Publish(t.Context(), "5/0/1", nil, []byte{0x42}); err != nil {
		t.Fatal(err)
	}
	l.expect(t, "to 5/0/1: 42")
	rec.none(t, 200*time.Millisecond)
	k.knxtool("groupwrite", "5/0/2", "43")
	if m := rec.next(t, 5*time.Second); m.Topic != "5/0/2" || string(m.Payload) != "\x43" {
		t.Fatalf("got %+v (%q), want raw 43 on 5/0/2", m, m.Payload)
	}
}
