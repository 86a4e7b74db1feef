package knx

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// fakeGateway is a scripted KNXnet/IP tunnelling server on 127.0.0.1: tests read
// what the connector sent and decide what to answer.
type fakeGateway struct {
	t      *testing.T
	conn   *net.UDPConn
	frames chan gwFrame
}

type gwFrame struct {
	f    knxnet.Frame
	from *net.UDPAddr
}

func newFakeGateway(t *testing.T) *fakeGateway {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGateway{t: t, conn: conn, frames: make(chan gwFrame, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			f, err := knxnet.Decode(buf[:n])
			if err != nil {
				t.Errorf("fake gateway: connector sent a bad frame % X: %v", buf[:n], err)
				continue
			}
			g.frames <- gwFrame{f, from}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return g
}

func (g *fakeGateway) url() sdk.URL {
	return sdk.MustParseURL("knx://" + g.conn.LocalAddr().String())
}

// next returns the next frame the connector sent, failing after 5 s.
func (g *fakeGateway) next() gwFrame {
	g.t.Helper()
	select {
	case f := <-g.frames:
		return f
	case <-time.After(5 * time.Second):
		g.t.Fatal("fake gateway: no frame from the connector within 5s")
	}
	return gwFrame{}
}

// expect returns the next frame, which must be of type T.
func expect[T knxnet.Frame](g *fakeGateway) (T, *net.UDPAddr) {
	g.t.Helper()
	f := g.next()
	v, ok := f.f.(T)
	if !ok {
		g.t.Fatalf("fake gateway: got %s (%#v), want %T", f.f.Service(), f.f, v)
	}
	return v, f.from
}

// quiet checks that the connector sends nothing for d.
func (g *fakeGateway) quiet(d time.Duration) {
	g.t.Helper()
	select {
	case f := <-g.frames:
		g.t.Fatalf("fake gateway: unexpected %s %#v", f.f.Service(), f.f)
	case <-time.After(d):
	}
}

func (g *fakeGateway) send(to *net.UDPAddr, f knxnet.Frame) {
	g.t.Helper()
	b, err := knxnet.Encode(f)
	if err != nil {
		g.t.Fatal(err)
	}
	if _, err := g.conn.WriteToUDP(b, to); err != nil {
		g.t.Fatal(err)
	}
}

// accept answers the next CONNECT_REQUEST with channel ch.
func (g *fakeGateway) accept(ch uint8) *net.UDPAddr {
	g.t.Helper()
	req, from := expect[*knxnet.ConnectRequest](g)
	if req.Layer != knxnet.TunnelLinkLayer {
		g.t.Fatalf("CONNECT_REQUEST asks for layer 0x%02X, want link layer", req.Layer)
	}
	if req.Data.Addr != netip.MustParseAddrPort(from.String()) {
		g.t.Fatalf("CONNECT_REQUEST data endpoint %s, but it came from %s", req.Data.Addr, from)
	}
	g.send(from, &knxnet.ConnectResponse{Channel: ch, Status: knxnet.StatusOK, Data: knxnet.HPAI{Addr: netip.MustParseAddrPort(g.conn.LocalAddr().String())}, Address: 0x11FA})
	return from
}

// confirm sends the L_Data.con for req as tunnelling request seq.
func (g *fakeGateway) confirm(to *net.UDPAddr, ch, seq uint8, req *knxnet.TunnellingRequest, failed bool) {
	con := req.CEMI
	con.Code = knxnet.LDataCon
	con.Source = 0x11FA
	if failed {
		con.Control1 |= 0x01
	}
	g.send(to, &knxnet.TunnellingRequest{Channel: ch, Seq: seq, CEMI: con})
	ack, _ := expect[*knxnet.TunnellingAck](g)
	if ack.Seq != seq || ack.Channel != ch {
		g.t.Fatalf("ACK for L_Data.con: %#v", ack)
	}
}

// recorder is a sink that records inbound messages and acknowledges them.
type recorder struct {
	ch chan run.Message
}

func newRecorder() *recorder { return &recorder{ch: make(chan run.Message, 100)} }

func (r *recorder) Deliver(m run.Message, ack func(error)) {
	m.Payload = append([]byte(nil), m.Payload...)
	r.ch <- m
	ack(nil)
}

// next waits up to d for the next message.
func (r *recorder) next(t *testing.T, d time.Duration) run.Message {
	t.Helper()
	select {
	case m := <-r.ch:
		return m
	case <-time.After(d):
		t.Fatalf("no inbound message within %s", d)
	}
	return run.Message{}
}

// none checks that no message arrives for d.
func (r *recorder) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-r.ch:
		t.Fatalf("unexpected inbound message %q on %s", m.Payload, m.Topic)
	case <-time.After(d):
	}
}

// fastOptions keeps protocol timers short for tests. The ACK and confirmation
// timeouts leave room for a test's gateway to answer on a loaded machine: at 150 ms
// and 500 ms the stress sweep (docs/testing.md) saw a retransmit overtake the ACK.
func fastOptions(extra sdk.Config) sdk.Config {
	o := sdk.Config{
		"ack_timeout": "1s", "confirm_timeout": "2s", "connect_timeout": "500ms",
		"heartbeat": "10s", "heartbeat_timeout": "200ms", "reconnect_min": "50ms", "reconnect_max": "400ms",
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// startConnector starts a KNX instance in-process and closes it when the test ends.
func startConnector(t *testing.T, u sdk.URL, opts sdk.Config, routes []sdk.Route, sink run.Sink, host sdk.Host) *run.Instance {
	t.Helper()
	inst, err := run.Start(context.Background(), NewBuilder(), run.Config{
		Name: "knx", URL: u, Options: opts, Routes: routes, Sink: sink, Host: host, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := inst.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return inst
}

// publishAsync runs Publish in a goroutine, once the instance is healthy (a tunnel
// that is not up fails a publish at once), and returns its result channel.
func publishAsync(inst *run.Instance, dest string, cfg sdk.Config, payload string) chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for inst.Health(ctx) != nil && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		done <- inst.Publish(ctx, dest, cfg, []byte(payload))
	}()
	return done
}

func waitErr(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(6 * time.Second):
		t.Fatal("Publish did not return")
	}
	return nil
}
