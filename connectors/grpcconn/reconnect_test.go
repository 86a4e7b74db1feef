package grpcconn_test

import (
	"context"
	"crypto/tls"
	"strconv"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest"
	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest/testpb"
	"github.com/aimdb-dev/aimdb-go/internal/testpki"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// waitHealth waits until the instance's health is nil (healthy) or not.
func waitHealth(t *testing.T, in *instance, healthy bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := in.Health(context.Background())
		if (err == nil) == healthy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %v after 10s, want healthy=%v", err, healthy)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServerRestart: with the server stopped, health turns bad and publishes fail
// fast with a retryable kind; once it is back, the connection and the link_from's
// stream come back by themselves, and values flow both ways again.
func TestServerRestart(t *testing.T) {
	srv := grpctest.Start(t)
	in := start(t, "grpc://"+srv.Addr, sdk.Config{"reconnect_max": "200ms", "connect_timeout": "500ms"}, links{
		out: []sdk.LinkSpec{to(1, method("Put"), "payload_field", "data")},
		in:  []sdk.Route{from(2, method("Watch"), "payload_field", "data")},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waitHealth(t, in, true)
	waitStream(t, srv, "Watch", 1)

	srv.Stop()
	waitHealth(t, in, false)
	start := time.Now()
	err := in.publish(1, "during")[0]
	if !sdk.Retryable(err) || sdk.KindOf(err) != sdk.KindConnectionFailed {
		t.Errorf("publish while down: %v (kind %s); want connection failed, retryable", err, sdk.KindOf(err))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("publish while down took %v; want it to fail fast", d)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, in, true)
	calls := srv.Observe(ctx, "Put")
	if err := in.publish(1, "after")[0]; err != nil {
		t.Fatalf("publish after the restart: %v", err)
	}
	if got := string(nextCall(t, calls).Reading.GetData()); got != "after" {
		t.Errorf("server got %q, want after", got)
	}
	waitStream(t, srv, "Watch", 1)
	if err := srv.Send(ctx, "Watch", &testpb.Reading{Data: []byte("streamed")}); err != nil {
		t.Fatal(err)
	}
	if got := string(in.next(t).Payload); got != "streamed" {
		t.Errorf("inbound %q after the restart, want streamed", got)
	}
}

// TestLoadBalancing: round_robin spreads calls over every address of the URL;
// pick_first sends them all to one.
func TestLoadBalancing(t *testing.T) {
	a, b := grpctest.Start(t), grpctest.Start(t)
	for _, c := range []struct {
		policy string
		spread bool
	}{{"round_robin", true}, {"pick_first", false}} {
		t.Run(c.policy, func(t *testing.T) {
			in := start(t, "grpc://"+a.Addr+","+b.Addr, sdk.Config{"load_balancing": c.policy}, links{
				out: []sdk.LinkSpec{to(1, method("Put"), "payload_field", "data")},
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ca, cb := a.Observe(ctx, "Put"), b.Observe(ctx, "Put")
			const n = 100
			for i := 0; i < n; i++ {
				if err := in.publish(1, "v")[0]; err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
			}
			na, nb := len(ca), len(cb)
			t.Logf("%s: %d calls to %s, %d to %s", c.policy, na, a.Addr, nb, b.Addr)
			switch {
			case na+nb != n:
				t.Errorf("%d calls arrived, want %d", na+nb, n)
			case c.spread && (na < n/4 || nb < n/4):
				t.Errorf("round_robin sent %d and %d calls; want both servers to get a fair share", na, nb)
			case !c.spread && na != 0 && nb != 0:
				t.Errorf("pick_first sent %d and %d calls; want all to one server", na, nb)
			}
		})
	}
}

// TestTLS: grpcs:// verifies the server against tls_ca_file and presents the client
// certificate to a server that asks for one; a server signed by another CA is refused.
func TestTLS(t *testing.T) {
	pki := testpki.New(t)
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpctest.Start(t, grpctest.WithTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.Pool(t),
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := srv.Observe(ctx, "Put")
	in := start(t, "grpcs://"+srv.Addr, sdk.Config{"tls_ca_file": pki.CA, "tls_cert_file": pki.ClientCert, "tls_key_file": pki.ClientKey}, links{
		out: []sdk.LinkSpec{to(1, method("Put"), "payload_field", "data")},
	})
	if err := in.publish(1, "over tls")[0]; err != nil {
		t.Fatalf("publish over mutual TLS: %v", err)
	}
	if got := string(nextCall(t, calls).Reading.GetData()); got != "over tls" {
		t.Errorf("server got %q", got)
	}

	other := start(t, "grpcs://"+srv.Addr, sdk.Config{"tls_ca_file": pki.OtherCA, "tls_cert_file": pki.ClientCert, "tls_key_file": pki.ClientKey, "connect_timeout": "300ms"}, links{
		out: []sdk.LinkSpec{to(1, method("Put"), "payload_field", "data")},
	})
	if err := other.publish(1, "x")[0]; sdk.KindOf(err) != sdk.KindConnectionFailed {
		t.Errorf("publish to a server of another CA: %v; want connection failed", err)
	}
	if err := other.Health(ctx); err == nil {
		t.Error("healthy against a server of another CA")
	}
}

// TestStreamWindow: a stream hands the host at most 256 values that wait for their
// acknowledgement; the rest follow, in order, as acknowledgements come back. A value
// the host refuses is counted (grpc_stream_values_refused_total).
func TestStreamWindow(t *testing.T) {
	srv := grpctest.Start(t)
	type held struct {
		payload string
		ack     func(error)
	}
	got := make(chan held, 1000)
	inst := startWith(t, "grpc://"+srv.Addr, sdk.Config{}, links{
		in: []sdk.Route{from(1, method("Watch"), "payload_field", "data")},
	}, run.SinkFunc(func(m run.Message, ack func(error)) { got <- held{string(m.Payload), ack} }))
	waitStream(t, srv, "Watch", 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 300
	for i := range n {
		if err := srv.Send(ctx, "Watch", &testpb.Reading{Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var waiting []held
	for len(waiting) < 256 {
		select {
		case h := <-got:
			waiting = append(waiting, h)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d values reached the host, want 256", len(waiting))
		}
	}
	select {
	case h := <-got:
		t.Fatalf("value %s reached the host with 256 unacknowledged", h.payload)
	case <-time.After(300 * time.Millisecond):
	}
	waiting[0].ack(sdk.Errorf(sdk.KindRejected, "refused by the test"))
	for _, h := range waiting[1:] {
		h.ack(nil)
	}
	for i := 256; i < n; i++ {
		select {
		case h := <-got:
			if h.payload != strconv.Itoa(i) {
				t.Fatalf("value %s arrived as number %d", h.payload, i)
			}
			h.ack(nil)
		case <-time.After(10 * time.Second):
			t.Fatalf("value %d did not follow the acknowledgements", i)
		}
	}
	for i, h := range waiting {
		if h.payload != strconv.Itoa(i) {
			t.Fatalf("value %s arrived as number %d", h.payload, i)
		}
	}
	refused := -1.0
	for _, m := range inst.Metrics() {
		if m.Name == "grpc_stream_values_refused_total" {
			refused = m.Value
		}
	}
	if refused != 1 {
		t.Errorf("grpc_stream_values_refused_total = %v, want 1 (the value the host refused)", refused)
	}
}

// TestStreamEndedByServer: a stream the server ends (status OK) is opened again.
func TestStreamEndedByServer(t *testing.T) {
	srv := grpctest.Start(t)
	in := start(t, "grpc://"+srv.Addr, sdk.Config{"reconnect_max": "200ms"}, links{
		in: []sdk.Route{from(1, method("Watch"), "payload_field", "data")},
	})
	waitStream(t, srv, "Watch", 1)
	srv.EndStreams("Watch")
	waitStream(t, srv, "Watch", 0)
	waitStream(t, srv, "Watch", 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Send(ctx, "Watch", &testpb.Reading{Data: []byte("again")}); err != nil {
		t.Fatal(err)
	}
	if got := string(in.next(t).Payload); got != "again" {
		t.Errorf("inbound %q, want again", got)
	}
}
