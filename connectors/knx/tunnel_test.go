package knx

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

var dpt9 = sdk.Config{"dpt": "9.001"}

func TestTunnelPublishRetransmitsOnceAndWaitsForConfirmation(t *testing.T) {
	g := newFakeGateway(t)
	inst := startConnector(t, g.url(), fastOptions(nil), nil, nil, nil)
	client := g.accept(7)

	done := publishAsync(inst, "1/2/3", dpt9, "21")
	first, _ := expect[*knxnet.TunnellingRequest](g)
	// No ACK: after ack_timeout the connector must send the same request again.
	again, _ := expect[*knxnet.TunnellingRequest](g)
	if again.Seq != first.Seq || again.Channel != 7 || string(again.CEMI.TPDU) != string(first.CEMI.TPDU) {
		t.Fatalf("retransmit %#v differs from %#v", again, first)
	}
	if first.CEMI.Code != knxnet.LDataReq || knxnet.GroupAddress(first.CEMI.Dest).String() != "1/2/3" {
		t.Fatalf("request %#v", first.CEMI)
	}
	_, apdu, err := first.CEMI.GroupTelegram()
	if err != nil || apdu.Command != knxnet.GroupValueWrite || string(apdu.Data) != "\x0C\x1A" {
		t.Fatalf("APDU %#v (%v), want GroupValueWrite 0C 1A", apdu, err)
	}
	g.send(client, &knxnet.TunnellingAck{Channel: 7, Seq: first.Seq})
	select {
	case err := <-done:
		t.Fatalf("Publish returned %v before L_Data.con", err)
	case <-time.After(100 * time.Millisecond):
	}
	g.confirm(client, 7, 0, first, false)
	if err := waitErr(t, done); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	// The next telegram uses the next sequence number.
	done = publishAsync(inst, "1/2/3", sdk.Config{"dpt": "1.001"}, "true")
	second, _ := expect[*knxnet.TunnellingRequest](g)
	if second.Seq != first.Seq+1 {
		t.Fatalf("second request seq %d, want %d", second.Seq, first.Seq+1)
	}
	if _, apdu, _ := second.CEMI.GroupTelegram(); !apdu.Short || apdu.Data[0] != 1 {
		t.Fatalf("DPT 1 value must travel as short data: %#v", apdu)
	}
	g.send(client, &knxnet.TunnellingAck{Channel: 7, Seq: second.Seq})
	g.confirm(client, 7, 1, second, false)
	if err := waitErr(t, done); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func TestTunnelReconnectsAfterSecondMissingAck(t *testing.T) {
	g := newFakeGateway(t)
	inst := startConnector(t, g.url(), fastOptions(nil), nil, nil, nil)
	g.accept(1)
	done := publishAsync(inst, "1/2/3", nil, "\x01\x02")
	expect[*knxnet.TunnellingRequest](g)
	expect[*knxnet.TunnellingRequest](g)
	err := waitErr(t, done)
	if sdk.KindOf(err) != sdk.KindTimeout || !strings.Contains(err.Error(), "did not acknowledge") {
		t.Fatalf("Publish error = %v, want a timeout about the missing ACK", err)
	}
	if d, _ := expect[*knxnet.DisconnectRequest](g); d.Channel != 1 {
		t.Fatalf("DISCONNECT_REQUEST for channel %d", d.Channel)
	}
	if err := inst.Health(t.Context()); err == nil {
		t.Error("Health: want an error while the tunnel is down")
	}
	// Backoff, then a new tunnel whose sequence starts at 0 again.
	client := g.accept(2)
	waitHealthy(t, inst)
	done = publishAsync(inst, "1/2/4", nil, "\x05")
	req, _ := expect[*knxnet.TunnellingRequest](g)
	if req.Channel != 2 || req.Seq != 0 {
		t.Fatalf("request after reconnect: channel %d seq %d, want 2 and 0", req.Channel, req.Seq)
	}
	g.send(client, &knxnet.TunnellingAck{Channel: 2, Seq: 0})
	g.confirm(client, 2, 0, req, false)
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestTunnelConfirmationWithErrorFailsPublish(t *testing.T) {
	g := newFakeGateway(t)
	inst := startConnector(t, g.url(), fastOptions(nil), nil, nil, nil)
	client := g.accept(3)
	done := publishAsync(inst, "1/2/3", dpt9, "21")
	req, _ := expect[*knxnet.TunnellingRequest](g)
	g.send(client, &knxnet.TunnellingAck{Channel: 3, Seq: req.Seq})
	g.confirm(client, 3, 0, req, true)
	err := waitErr(t, done)
	if sdk.KindOf(err) != sdk.KindConnectionFailed || !strings.Contains(err.Error(), "L_Data.con") {
		t.Fatalf("Publish error = %v, want a failed confirmation", err)
	}
	// Without any L_Data.con the publish times out, and the tunnel stays up.
	done = publishAsync(inst, "1/2/3", dpt9, "22")
	req, _ = expect[*knxnet.TunnellingRequest](g)
	g.send(client, &knxnet.TunnellingAck{Channel: 3, Seq: req.Seq})
	if err := waitErr(t, done); sdk.KindOf(err) != sdk.KindTimeout {
		t.Fatalf("Publish error = %v, want a timeout", err)
	}
	if err := inst.Health(t.Context()); err != nil {
		t.Fatalf("Health: %v", err)
	}
}

func TestTunnelInboundAcknowledgesAndDropsRepeats(t *testing.T) {
	g := newFakeGateway(t)
	rec := newRecorder()
	routes := []sdk.Route{{ID: 1, Resource: "1/2/3", Config: dpt9, Record: "temp"}, {ID: 2, Resource: "2/+", Record: "raw"}}
	startConnector(t, g.url(), fastOptions(nil), routes, rec, nil)
	client := g.accept(4)

	ind := func(seq uint8, dst knxnet.GroupAddress, apdu knxnet.APDU) {
		c, err := knxnet.NewGroupTelegram(knxnet.LDataInd, 0x1105, dst, apdu)
		if err != nil {
			t.Fatal(err)
		}
		g.send(client, &knxnet.TunnellingRequest{Channel: 4, Seq: seq, CEMI: c})
		ack, _ := expect[*knxnet.TunnellingAck](g)
		if ack.Seq != seq || ack.Channel != 4 || ack.Status != knxnet.StatusOK {
			t.Fatalf("ACK %#v for seq %d", ack, seq)
		}
	}
	ga, _ := knxnet.ParseGroupAddress("1/2/3")
	ind(0, ga, knxnet.APDU{Command: knxnet.GroupValueWrite, Data: []byte{0x0C, 0x1A}})
	if m := rec.next(t, 2*time.Second); m.Topic != "1/2/3" || string(m.Payload) != "21" || m.RouteID != 1 {
		t.Fatalf("message %+v, want 21 on 1/2/3", m)
	}
	ind(0, ga, knxnet.APDU{Command: knxnet.GroupValueWrite, Data: []byte{0x0C, 0x1A}}) // repeat: ACKed, not delivered
	rec.none(t, 100*time.Millisecond)
	// 2-level route: 2/300 is 2/1/44 in 3-level notation; a response counts like a write.
	ind(1, 2<<11|300, knxnet.APDU{Command: knxnet.GroupValueResponse, Data: []byte{0x07}, Short: true})
	if m := rec.next(t, 2*time.Second); m.Topic != "2/300" || string(m.Payload) != "\x07" || m.RouteID != 2 {
		t.Fatalf("message %+v, want raw 07 on 2/300", m)
	}
	// Out of sequence: dropped without ACK.
	c, _ := knxnet.NewGroupTelegram(knxnet.LDataInd, 0x1105, ga, knxnet.APDU{Command: knxnet.GroupValueWrite, Data: []byte{0, 1}})
	g.send(client, &knxnet.TunnellingRequest{Channel: 4, Seq: 9, CEMI: c})
	g.quiet(100 * time.Millisecond)
	rec.none(t, 10*time.Millisecond)
	// A value that does not decode as its DPT is not delivered.
	ind(2, ga, knxnet.APDU{Command: knxnet.GroupValueWrite, Data: []byte{0x7F, 0xFF}})
	rec.none(t, 100*time.Millisecond)
}

func TestTunnelHeartbeatErrorReconnects(t *testing.T) {
	g := newFakeGateway(t)
	inst := startConnector(t, g.url(), fastOptions(sdk.Config{"heartbeat": "100ms"}), nil, nil, nil)
	client := g.accept(5)
	hb, _ := expect[*knxnet.ConnectionStateRequest](g)
	if hb.Channel != 5 {
		t.Fatalf("heartbeat for channel %d", hb.Channel)
	}
	g.send(client, &knxnet.ConnectionStateResponse{Channel: 5, Status: knxnet.StatusOK})
	if hb, _ = expect[*knxnet.ConnectionStateRequest](g); hb.Channel != 5 {
		t.Fatalf("second heartbeat for channel %d", hb.Channel)
	}
	// The gateway forgot the tunnel (for example it restarted).
	g.send(client, &knxnet.ConnectionStateResponse{Channel: 5, Status: knxnet.StatusConnectionID})
	g.accept(6)
	waitHealthy(t, inst)

	// Unanswered heartbeats: three tries, then a disconnect and a new tunnel.
	for i := 0; i < heartbeatAttempts; i++ {
		if hb, _ := expect[*knxnet.ConnectionStateRequest](g); hb.Channel != 6 {
			t.Fatalf("heartbeat for channel %d", hb.Channel)
		}
	}
	expect[*knxnet.DisconnectRequest](g)
	g.accept(8)
}

func TestTunnelGatewayDisconnectAndRefusal(t *testing.T) {
	g := newFakeGateway(t)
	inst := startConnector(t, g.url(), fastOptions(nil), nil, nil, nil)
	client := g.accept(9)
	g.send(client, &knxnet.DisconnectRequest{Channel: 9})
	if r, _ := expect[*knxnet.DisconnectResponse](g); r.Channel != 9 {
		t.Fatalf("DISCONNECT_RESPONSE for channel %d", r.Channel)
	}
	_, from := expect[*knxnet.ConnectRequest](g)
	g.send(from, &knxnet.ConnectResponse{Status: knxnet.StatusNoMoreConnections})
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := inst.Health(t.Context())
		if err != nil && strings.Contains(err.Error(), "no more connections") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Health = %v, want the refusal", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.accept(10)
	waitHealthy(t, inst)
}

func TestTunnelRespondsToGroupValueRead(t *testing.T) {
	g := newFakeGateway(t)
	host := &fakeHost{}
	inst := startConnector(t, g.url(), fastOptions(nil), nil, nil, host)
	client := g.accept(11)
	respond := sdk.Config{"dpt": "9.001", "respond": "true"}
	done := publishAsync(inst, "1/2/7", respond, "21")
	req, _ := expect[*knxnet.TunnellingRequest](g)
	g.send(client, &knxnet.TunnellingAck{Channel: 11, Seq: req.Seq})
	g.confirm(client, 11, 0, req, false)
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}

	read := func(seq uint8) {
		c, _ := knxnet.NewGroupTelegram(knxnet.LDataInd, 0x1105, 0x0A07, knxnet.APDU{Command: knxnet.GroupValueRead})
		g.send(client, &knxnet.TunnellingRequest{Channel: 11, Seq: seq, CEMI: c})
		expect[*knxnet.TunnellingAck](g)
	}
	answer := func(seq uint8, want string) {
		resp, _ := expect[*knxnet.TunnellingRequest](g)
		_, apdu, err := resp.CEMI.GroupTelegram()
		if err != nil || apdu.Command != knxnet.GroupValueResponse || string(apdu.Data) != want || resp.CEMI.Dest != 0x0A07 {
			t.Fatalf("answer %#v (%v), want GroupValueResponse % X to 1/2/7", apdu, err, want)
		}
		g.send(client, &knxnet.TunnellingAck{Channel: 11, Seq: resp.Seq})
		g.confirm(client, 11, seq, resp, false)
	}
	// The host cannot say (the in-process default): the last published value answers.
	host.set(nil, sdk.Errorf(sdk.KindRejected, "no latest values here"))
	read(1)
	answer(2, "\x0C\x1A")
	// The host knows a newer value: it wins.
	host.set([]byte("-30"), nil)
	read(3)
	answer(4, "\x8A\x24")
	if r := host.asked(); len(r) != 2 || r[0] != "1/2/7" {
		t.Errorf("Latest asked for %q", r)
	}
	// A read for an address without respond is not answered.
	c, _ := knxnet.NewGroupTelegram(knxnet.LDataInd, 0x1105, 0x0A08, knxnet.APDU{Command: knxnet.GroupValueRead})
	g.send(client, &knxnet.TunnellingRequest{Channel: 11, Seq: 5, CEMI: c})
	expect[*knxnet.TunnellingAck](g)
	g.quiet(200 * time.Millisecond)
}

func TestTunnelReadInitAfterEveryConnect(t *testing.T) {
	g := newFakeGateway(t)
	routes := []sdk.Route{{ID: 1, Resource: "1/2/3", Config: sdk.Config{"dpt": "9.001", "read": "init"}}, {ID: 2, Resource: "1/2/4"}}
	startConnector(t, g.url(), fastOptions(nil), routes, newRecorder(), nil)
	for ch := uint8(1); ch <= 2; ch++ {
		client := g.accept(ch)
		req, _ := expect[*knxnet.TunnellingRequest](g)
		_, apdu, err := req.CEMI.GroupTelegram()
		if err != nil || apdu.Command != knxnet.GroupValueRead || req.CEMI.Dest != 0x0A03 {
			t.Fatalf("connect %d: got %#v (%v), want GroupValueRead to 1/2/3", ch, apdu, err)
		}
		g.send(client, &knxnet.TunnellingAck{Channel: ch, Seq: req.Seq})
		g.confirm(client, ch, 0, req, false)
		g.send(client, &knxnet.DisconnectRequest{Channel: ch}) // force a reconnect
		expect[*knxnet.DisconnectResponse](g)
	}
	g.accept(3)
	expect[*knxnet.TunnellingRequest](g)
}

func TestCloseSendsDisconnect(t *testing.T) {
	g := newFakeGateway(t)
	inst, err := run.Start(t.Context(), NewBuilder(), run.Config{Name: "knx", URL: g.url(), Options: fastOptions(nil), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	client := g.accept(12)
	waitHealthy(t, inst)
	closed := make(chan error, 1)
	go func() { closed <- inst.Close(t.Context()) }()
	d, _ := expect[*knxnet.DisconnectRequest](g)
	g.send(client, &knxnet.DisconnectResponse{Channel: d.Channel})
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := inst.Publish(t.Context(), "1/2/3", nil, []byte{1}); sdk.KindOf(err) != sdk.KindClosed {
		t.Fatalf("Publish after Close = %v, want closed", err)
	}
}

func waitHealthy(t *testing.T, inst *run.Instance) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := inst.Health(t.Context())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy within 5s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTunnelUsesGatewayDataEndpoint: tunnelling requests go to the data endpoint the
// CONNECT_RESPONSE names; heartbeats stay on the control endpoint.
func TestTunnelUsesGatewayDataEndpoint(t *testing.T) {
	ctrl, data := newFakeGateway(t), newFakeGateway(t)
	inst := startConnector(t, ctrl.url(), fastOptions(sdk.Config{"heartbeat": "300ms"}), nil, nil, nil)
	_, client := expect[*knxnet.ConnectRequest](ctrl)
	ctrl.send(client, &knxnet.ConnectResponse{Channel: 20, Data: knxnet.HPAI{Addr: netip.MustParseAddrPort(data.conn.LocalAddr().String())}})
	done := publishAsync(inst, "1/2/3", nil, "\x01")
	req, _ := expect[*knxnet.TunnellingRequest](data)
	data.send(client, &knxnet.TunnellingAck{Channel: 20, Seq: req.Seq})
	data.confirm(client, 20, 0, req, false)
	if err := waitErr(t, done); err != nil {
		t.Fatal(err)
	}
	if hb, _ := expect[*knxnet.ConnectionStateRequest](ctrl); hb.Channel != 20 {
		t.Fatalf("heartbeat for channel %d", hb.Channel)
	}
}
