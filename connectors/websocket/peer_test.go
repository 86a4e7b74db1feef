package websocket_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/websocket"
	"github.com/aimdb-dev/aimdb-go/connectors/websocket/wstest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// frames subscribes to the frames clients send the hub on path.
func frames(t *testing.T, h *wstest.Hub, path string) <-chan wstest.Event {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return h.Subscribe(ctx, func(ev wstest.Event) bool { return ev.Event == "message" && ev.Path == path })
}

// opens subscribes to the hub's connection events.
func opens(t *testing.T, h *wstest.Hub) <-chan wstest.Event {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return h.Subscribe(ctx, func(ev wstest.Event) bool { return ev.Event == "open" })
}

func send(t *testing.T, h *wstest.Hub, path, data string, binary bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := h.Send(ctx, path, []byte(data), binary)
	if err != nil || n == 0 {
		t.Fatalf("hub send on %s: %d clients, %v", path, n, err)
	}
}

// TestPerResourceConnections: without route_field each resource is a path under the
// connector URL with its own connection; link_to values go as text frames when they
// are UTF-8 and as binary frames otherwise (or with frame = "binary"), and every frame
// on a link_from's connection becomes a value of its record.
func TestPerResourceConnections(t *testing.T) {
	h := wstest.Start(t, wstest.Options{})
	outA, outB := frames(t, h, "/base/out/a"), frames(t, h, "/base/out/b")
	in := start(t, h.URL("ws", "/base"), sdk.Config{},
		to("out/a", nil), to("out/b", sdk.Config{"frame": "binary"}), from("in/c", nil))
	in.waitHealthy(t, 10*time.Second)

	mustPublish(t, in, 1, `{"temp":21.5}`, "plain text", "\xff\x00\x01")
	for _, want := range []struct {
		data   string
		binary bool
	}{{`{"temp":21.5}`, false}, {"plain text", false}, {"\xff\x00\x01", true}} {
		ev := wstest.Next(t, outA, 5*time.Second)
		if string(ev.Data) != want.data || ev.Binary != want.binary {
			t.Fatalf("hub got %q (binary %v), want %q (binary %v)", ev.Data, ev.Binary, want.data, want.binary)
		}
	}
	mustPublish(t, in, 2, "text")
	if ev := wstest.Next(t, outB, 5*time.Second); string(ev.Data) != "text" || !ev.Binary {
		t.Fatalf("frame = binary link sent %q binary=%v", ev.Data, ev.Binary)
	}

	send(t, h, "/base/in/c", `{"on":true}`, false)
	send(t, h, "/base/in/c", "\x00\x01", true)
	for _, want := range []string{`{"on":true}`, "\x00\x01"} {
		if got := in.sink.next(t, 5*time.Second); got.Payload != want || got.Route != 3 || got.Topic != "in/c" {
			t.Fatalf("link_from got %+v, want %q on route 3", got, want)
		}
	}

	// Closing the instance closes every connection with 1001 (going away).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	closes := h.Subscribe(ctx, func(ev wstest.Event) bool { return ev.Event == "close" })
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if ev := wstest.Next(t, closes, 5*time.Second); ev.Code != 1001 {
			t.Errorf("connection %s closed with %d, want 1001", ev.Path, ev.Code)
		}
	}
}

// TestRoutedFrames: with route_field one connection carries every link; received
// frames go to the link_from patterns their topic field matches ("+" and "#"), the
// value being payload_field (a string gives its text, other JSON stays JSON), and a
// frame with no topic or no match reaches nobody. link_to values go in the same
// envelope, so they round-trip.
func TestRoutedFrames(t *testing.T) {
	h := wstest.Start(t, wstest.Options{})
	out := frames(t, h, "/feed")
	conns := opens(t, h)
	in := start(t, h.URL("ws", "/feed"), sdk.Config{"route_field": "meta.topic"},
		from("sensors/+/temp", nil), from("alarms/#", nil), to("cmd/light", nil))
	in.waitHealthy(t, 10*time.Second)
	if ev := wstest.Next(t, conns, 5*time.Second); ev.Path != "/feed" {
		t.Fatalf("connected to %s, want /feed", ev.Path)
	}

	for _, f := range []string{
		`{"meta":{"topic":"sensors/kitchen/temp"},"payload":{"c":21}}`,
		`{"meta":{"topic":"sensors/kitchen/humidity"},"payload":1}`, // no match
		`{"payload":"no topic"}`,
		`not json`,
		`{"meta":{"topic":"alarms/fire/3"},"payload":"smoke \"detected\""}`,
	} {
		send(t, h, "/feed", f, false)
	}
	if got := in.sink.next(t, 5*time.Second); got.Route != 1 || got.Topic != "sensors/kitchen/temp" || got.Payload != `{"c":21}` {
		t.Fatalf("first value %+v", got)
	}
	if got := in.sink.next(t, 5*time.Second); got.Route != 2 || got.Payload != `smoke "detected"` {
		t.Fatalf("second value %+v", got)
	}
	in.sink.quiet(t, 200*time.Millisecond)
	if m := metric(in, "websocket_frames_dropped_total"); m != 3 {
		t.Errorf("dropped frames = %v, want 3", m)
	}

	mustPublish(t, in, 3, `{"on":true}`, "dim 50%")
	for _, want := range []string{`{"on":true}`, "dim 50%"} {
		ev := wstest.Next(t, out, 5*time.Second)
		var env struct {
			Meta struct {
				Topic string `json:"topic"`
			} `json:"meta"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(ev.Data, &env); err != nil || env.Meta.Topic != "cmd/light" || ev.Binary {
			t.Fatalf("envelope %s (binary %v): %v", ev.Data, ev.Binary, err)
		}
		var text string
		if json.Unmarshal(env.Payload, &text) != nil {
			text = string(env.Payload)
		}
		if text != want {
			t.Fatalf("envelope payload %s, want %q", env.Payload, want)
		}
	}
	// Binary values cannot go in a JSON envelope: refused for good, not retried.
	if errs := in.publish(t, 3, "\xff"); sdk.KindOf(errs[0]) != sdk.KindInvalidConfig || sdk.Retryable(errs[0]) {
		t.Fatalf("binary value over a routed connection: %v, want a permanent invalid config", errs[0])
	}
}

// TestWholeFrames: payload_field = "" hands each routed frame to the record whole.
func TestWholeFrames(t *testing.T) {
	h := wstest.Start(t, wstest.Options{})
	in := start(t, h.URL("ws", "/"), sdk.Config{"route_field": "type", "payload_field": ""}, from("trade", nil))
	in.waitHealthy(t, 10*time.Second)
	f := `{"type":"trade","price":101.5,"qty":3}`
	send(t, h, "/", f, false)
	if got := in.sink.next(t, 5*time.Second); got.Payload != f {
		t.Fatalf("got %q, want the whole frame", got.Payload)
	}
}

// TestWscat: npm's wscat, an independent client on the same hub path, receives what
// link_to sends and its messages reach link_from.
func TestWscat(t *testing.T) {
	w := wstest.FindWscat(t)
	h := wstest.Start(t, wstest.Options{})
	conns := opens(t, h)
	in := start(t, h.URL("ws", ""), sdk.Config{}, to("chat", nil), from("chat", nil))
	in.waitHealthy(t, 10*time.Second)
	wstest.Next(t, conns, 5*time.Second)

	lines := w.Listen(t, h.URL("ws", "/chat"))
	wstest.Next(t, conns, 10*time.Second) // wscat is connected
	mustPublish(t, in, 1, `{"msg":"from aimdb"}`)
	select {
	case l := <-lines:
		if l != `{"msg":"from aimdb"}` {
			t.Fatalf("wscat printed %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wscat printed nothing")
	}

	for _, want := range []string{`{"msg":"from wscat"}`, "second"} {
		if err := w.Send(h.URL("ws", "/chat"), want); err != nil {
			t.Fatal(err)
		}
		if got := in.sink.next(t, 10*time.Second); got.Payload != want {
			t.Fatalf("link_from got %q, want %q", got.Payload, want)
		}
	}
}

// TestSilentServerDetected: a server that stops reading (so answers no ping) is
// detected within ping_interval + pong_timeout: the instance turns unhealthy saying
// so, reconnects, and publishes work again.
func TestSilentServerDetected(t *testing.T) {
	h := wstest.Start(t, wstest.Options{})
	const interval, timeout = 100 * time.Millisecond, 400 * time.Millisecond
	conns := opens(t, h)
	in := start(t, h.URL("ws", ""), sdk.Config{"ping_interval": interval.String(), "pong_timeout": timeout.String(), "reconnect_min": "20ms"},
		to("a", nil))
	in.waitHealthy(t, 10*time.Second)
	wstest.Next(t, conns, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	// Wait for the new connection: the frozen one was given up on.
	wstest.Next(t, conns, 10*time.Second)
	took := time.Since(frozen)
	t.Logf("silent server detected and replaced after %v", took.Round(time.Millisecond))
	if limit := interval + timeout + time.Second; took > limit {
		t.Errorf("detection took %v, more than ping_interval + pong_timeout (+1 s to reconnect) = %v", took, limit)
	}
	if !strings.Contains(in.log.String(), "no pong within 400ms") {
		t.Errorf("log does not say why the connection was dropped:\n%s", in.log.String())
	}
	in.waitHealthy(t, 10*time.Second)
	mustPublish(t, in, 1, "after")
}

// TestServerRestart: with the server down, publishes fail at once with a retryable
// connection error and health says so; once it is back the instance reconnects by
// itself and values flow again.
func TestServerRestart(t *testing.T) {
	h := wstest.Start(t, wstest.Options{})
	in := start(t, h.URL("ws", ""), sdk.Config{"reconnect_min": "20ms", "reconnect_max": "200ms"}, to("a", nil), from("b", nil))
	in.waitHealthy(t, 10*time.Second)
	ctx := context.Background()
	if err := h.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for in.Health(ctx) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	err := in.publish(t, 1, "during")[0]
	if sdk.KindOf(err) != sdk.KindConnectionFailed || !sdk.Retryable(err) {
		t.Fatalf("publish while down = %v, want a retryable connection failed", err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	out := frames(t, h, "/a")
	in.waitHealthy(t, 10*time.Second)
	mustPublish(t, in, 1, "after")
	if ev := wstest.Next(t, out, 5*time.Second); string(ev.Data) != "after" {
		t.Fatalf("hub got %q", ev.Data)
	}
	send(t, h, "/b", "in", false)
	if got := in.sink.next(t, 5*time.Second); got.Payload != "in" {
		t.Fatalf("link_from got %q", got.Payload)
	}
	// Both connections (/a and /b) were lost once; one frame came in.
	if lost, got := metric(in, "websocket_connections_lost_total"), metric(in, "websocket_frames_received_total"); lost != 2 || got != 1 {
		t.Errorf("connections lost %v (want 2), frames received %v (want 1)", lost, got)
	}
}

// TestHandshakeOptions: headers, a bearer token and headers from the environment, and
// the subprotocol, reach the server; the secrets never reach the log; a server that
// accepts none of the subprotocols is refused.
func TestHandshakeOptions(t *testing.T) {
	t.Setenv("WS_TEST_TOKEN", "tok-s3cret")
	t.Setenv("WS_TEST_HEADERS", "X-Api-Key: key-s3cret")
	h := wstest.Start(t, wstest.Options{Protocol: "v2.aimdb"})
	conns := opens(t, h)
	in := start(t, h.URL("ws", "/q?stream=1"), sdk.Config{
		"headers": "X-Client: aimdb; X-Zone: lab", "headers_env": "WS_TEST_HEADERS",
		"token_env": "WS_TEST_TOKEN", "subprotocols": "v1.aimdb, v2.aimdb",
	}, to("a", nil))
	in.waitHealthy(t, 10*time.Second)
	ev := wstest.Next(t, conns, 5*time.Second)
	want := map[string]string{"x-client": "aimdb", "x-zone": "lab", "x-api-key": "key-s3cret", "authorization": "Bearer tok-s3cret"}
	for k, v := range want {
		if ev.Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, ev.Headers[k], v)
		}
	}
	if ev.Protocol != "v2.aimdb" || ev.Path != "/q/a?stream=1" {
		t.Errorf("protocol %q path %q, want v2.aimdb and /q/a?stream=1", ev.Protocol, ev.Path)
	}
	if log := in.log.String(); strings.Contains(log, "s3cret") {
		t.Errorf("a secret is in the log:\n%s", log)
	}

	other := start(t, h.URL("ws", ""), sdk.Config{"subprotocols": "mqtt", "reconnect_min": "1s"}, to("b", nil))
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err = other.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "accepted none of the subprotocols"); err = other.Health(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatalf("health = %v, want a refusal naming the subprotocols", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHandshakeRefused: a server that refuses the handshake (401, no token) leaves
// the instance unhealthy with a retryable connection failure naming the status.
func TestHandshakeRefused(t *testing.T) {
	h := wstest.Start(t, wstest.Options{Token: "right"})
	t.Setenv("WS_TEST_WRONG", "wrong-token")
	in := start(t, h.URL("ws", ""), sdk.Config{"token_env": "WS_TEST_WRONG", "reconnect_min": "1s"}, to("a", nil))
	err := in.Health(context.Background())
	if sdk.KindOf(err) != sdk.KindConnectionFailed || !strings.Contains(err.Error(), "server refused the WebSocket handshake: 401") {
		t.Fatalf("health = %v, want connection failed naming the 401", err)
	}
	if err := in.publish(t, 1, "v")[0]; sdk.KindOf(err) != sdk.KindConnectionFailed || !sdk.Retryable(err) {
		t.Fatalf("publish = %v, want a retryable connection failed", err)
	}
}

// TestTLS: wss:// with the server's CA, and mutual TLS with a client certificate the
// server checks; without the client certificate the server refuses.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	h := wstest.Start(t, wstest.Options{Cert: p.ServerCert, Key: p.ServerKey, CA: p.CA})
	conns := opens(t, h)
	out := frames(t, h, "/secure")
	in := start(t, h.URL("wss", ""), sdk.Config{"tls_ca_file": p.CA, "tls_cert_file": p.ClientCert, "tls_key_file": p.ClientKey}, to("secure", nil))
	in.waitHealthy(t, 10*time.Second)
	if ev := wstest.Next(t, conns, 5*time.Second); ev.Cert != "aimdb-client" {
		t.Fatalf("server saw client certificate %q", ev.Cert)
	}
	mustPublish(t, in, 1, "over tls")
	if ev := wstest.Next(t, out, 5*time.Second); string(ev.Data) != "over tls" {
		t.Fatalf("hub got %q", ev.Data)
	}

	anon := start(t, h.URL("wss", ""), sdk.Config{"tls_ca_file": p.CA, "reconnect_min": "1s"}, to("secure", nil))
	if err := anon.Health(context.Background()); err == nil {
		t.Fatal("connected without the client certificate the server requires")
	}
	misnamed := start(t, h.URL("wss", ""), sdk.Config{"tls_ca_file": p.CA, "tls_cert_file": p.ClientCert, "tls_key_file": p.ClientKey,
		"tls_server_name": "other.example", "reconnect_min": "1s"}, to("secure", nil))
	insecure := start(t, h.URL("wss", ""), sdk.Config{"tls_insecure_skip_verify": "true", "tls_cert_file": p.ClientCert, "tls_key_file": p.ClientKey}, to("secure", nil))
	insecure.waitHealthy(t, 10*time.Second)
	if !strings.Contains(insecure.log.String(), "NOT verified") {
		t.Error("tls_insecure_skip_verify does not warn")
	}
	if err := misnamed.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("health with a tls_server_name the certificate does not name = %v, want a certificate error naming it", err)
	}
	untrusting := start(t, h.URL("wss", ""), sdk.Config{"tls_cert_file": p.ClientCert, "tls_key_file": p.ClientKey, "reconnect_min": "1s"}, to("secure", nil))
	if err := untrusting.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("health without the server's CA = %v, want a certificate error", err)
	}
}

// TestMessageTooLarge: a value over max_payload fails as message too large (not
// retried); a received frame over it drops the connection, which comes back.
func TestMessageTooLarge(t *testing.T) {
	h := wstest.Start(t, wstest.Options{})
	in := start(t, h.URL("ws", ""), sdk.Config{"max_payload": "100", "reconnect_min": "20ms"}, to("a", nil), from("b", nil))
	in.waitHealthy(t, 10*time.Second)
	errs := in.publish(t, 1, strings.Repeat("x", 100), strings.Repeat("x", 101))
	if errs[0] != nil {
		t.Fatalf("100 bytes: %v", errs[0])
	}
	if sdk.KindOf(errs[1]) != sdk.KindMessageTooLarge || sdk.Retryable(errs[1]) {
		t.Fatalf("101 bytes: %v, want message too large", errs[1])
	}
	send(t, h, "/b", strings.Repeat("y", 101), false)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(in.log.String(), "larger than max_payload") {
		if time.Now().After(deadline) {
			t.Fatal("the log does not say a received frame was too large")
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.waitHealthy(t, 10*time.Second)
	send(t, h, "/b", "small", false)
	if got := in.sink.next(t, 5*time.Second); got.Payload != "small" {
		t.Fatalf("got %q", got.Payload)
	}
}

// metric returns the instance's metric name.
func metric(in *instance, name string) float64 {
	for _, m := range in.Metrics() {
		if m.Name == name {
			return m.Value
		}
	}
	return -1
}

// TestBackPressure: at most max_inflight received frames wait for the host at once;
// the next is read only when one is answered. A frame the host refuses is counted
// (WebSocket cannot ask the server for it again).
func TestBackPressure(t *testing.T) {
	h := wstest.Start(t, wstest.Options{})
	u, err := sdk.ParseConnectorURL(h.URL("ws", ""))
	if err != nil {
		t.Fatal(err)
	}
	acks := make(chan func(error), 100)
	inst, err := run.Start(context.Background(), websocket.NewBuilder(), run.Config{
		Name: "bp", URL: u, Options: sdk.Config{"max_inflight": "2"},
		Routes: []sdk.Route{{ID: 1, Resource: "in", Record: "r"}},
		Sink:   run.SinkFunc(func(_ run.Message, ack func(error)) { acks <- ack }),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	for deadline := time.Now().Add(10 * time.Second); inst.Health(context.Background()) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not connected")
		}
	}
	for i := 0; i < 5; i++ {
		send(t, h, "/in", "v", false)
	}
	held := []func(error){<-acks, <-acks}
	select {
	case <-acks:
		t.Fatal("a third frame reached the host while two were unanswered")
	case <-time.After(300 * time.Millisecond):
	}
	held[0](sdk.Errorf(sdk.KindRejected, "not a number"))
	third := <-acks
	select {
	case <-acks:
		t.Fatal("a fourth frame reached the host while two were unanswered")
	case <-time.After(300 * time.Millisecond):
	}
	held[1](nil)
	third(nil)
	(<-acks)(nil)
	(<-acks)(nil)
	for _, m := range inst.Metrics() {
		if m.Name == "websocket_frames_refused_total" && m.Value != 1 {
			t.Errorf("refused = %v, want 1", m.Value)
		}
	}
}
