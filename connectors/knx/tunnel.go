package knx

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// tunnel is a KNXnet/IP tunnelling client; its Reconnector reconnects it with
// backoff.
type tunnel struct {
	s    settings
	log  hclog.Logger
	h    handler
	reqs chan *request
	rc   *sdk.Reconnector

	stopped chan struct{}
}

// request is one telegram waiting to go through the tunnel.
type request struct {
	ctx  context.Context
	cemi knxnet.CEMI
	done chan error // buffered: the session never blocks on it
}

func newTunnel(s settings, log hclog.Logger, h handler) *tunnel {
	t := &tunnel{s: s, log: log, h: h, reqs: make(chan *request), stopped: make(chan struct{})}
	t.rc = &sdk.Reconnector{
		Name:    "KNX tunnel to gateway " + s.gateway,
		Session: t.session,
		Backoff: sdk.Backoff{Min: s.reconnectMin, Max: s.reconnectMax},
		Logger:  log,
	}
	return t
}

func (t *tunnel) health() error { return t.rc.Health() }

// send hands a telegram to the tunnel and waits for its confirmation. While the
// tunnel is down it fails at once with KindConnectionFailed, so the host keeps the
// value and retries instead of waiting for the whole outage.
func (t *tunnel) send(ctx context.Context, c knxnet.CEMI) error {
	if err := t.health(); err != nil {
		return err
	}
	r := &request{ctx: ctx, cemi: c, done: make(chan error, 1)}
	select {
	case t.reqs <- r:
	case <-ctx.Done():
		return sdk.Errorf(sdk.KindTimeout, "knx: telegram to %s not sent: %v (%v)", knxnet.GroupAddress(c.Dest), ctx.Err(), t.health())
	case <-t.stopped:
		return sdk.Errorf(sdk.KindClosed, "knx: tunnel to %s is closed", t.s.gateway)
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return sdk.Errorf(sdk.KindTimeout, "knx: telegram to %s: no confirmation: %v", knxnet.GroupAddress(c.Dest), ctx.Err())
	}
}

func (t *tunnel) run(ctx context.Context) {
	defer close(t.stopped)
	t.rc.Run(ctx)
}

// errAwaitTimeout means no matching frame arrived in time.
var errAwaitTimeout = errors.New("timed out")

// session is one tunnel connection from CONNECT_REQUEST to its loss.
type session struct {
	t       *tunnel
	ctx     context.Context
	conn    *net.UDPConn
	ctrl    *net.UDPAddr                // the gateway's control endpoint (the URL's address)
	data    atomic.Pointer[net.UDPAddr] // the gateway's data endpoint, from CONNECT_RESPONSE
	hpai    knxnet.HPAI
	frames  chan knxnet.Frame
	errc    chan error
	quit    chan struct{}
	up      bool
	channel uint8
	addr    knxnet.IndividualAddress // given by the gateway
	sendSeq uint8
	recvSeq uint8
}

// session connects, serves requests, heartbeats and incoming telegrams, and returns
// why the tunnel ended.
func (t *tunnel) session(ctx context.Context) error {
	gw, err := net.ResolveUDPAddr("udp4", t.s.gateway)
	if err != nil {
		return sdk.Errorf(sdk.KindConnectionFailed, "resolve gateway %s: %w", t.s.gateway, err)
	}
	// Learn which local address reaches the gateway, then listen there unconnected:
	// the gateway may answer tunnelling requests from a data endpoint of its own.
	probe, err := net.DialUDP("udp4", nil, gw)
	if err != nil {
		return sdk.Errorf(sdk.KindConnectionFailed, "gateway %s: %w", t.s.gateway, err)
	}
	local := probe.LocalAddr().(*net.UDPAddr).IP
	probe.Close()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: local})
	if err != nil {
		return sdk.Errorf(sdk.KindConnectionFailed, "gateway %s: %w", t.s.gateway, err)
	}
	s := &session{t: t, ctx: ctx, conn: conn, ctrl: gw, frames: make(chan knxnet.Frame, 16), errc: make(chan error, 1), quit: make(chan struct{})}
	s.data.Store(gw)
	s.hpai = knxnet.HPAI{Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), 0)}
	if !t.s.nat {
		s.hpai.Addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.read() }()
	defer func() {
		close(s.quit)
		conn.Close()
		wg.Wait()
	}()

	if err := s.connect(); err != nil {
		return err
	}
	t.rc.MarkUp("channel", s.channel, "address", s.addr.String())
	t.h.connected()

	hb := time.NewTicker(t.s.heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			s.disconnect()
			return ctx.Err()
		case err := <-s.errc:
			return err
		case f := <-s.frames:
			if _, err := s.handle(f); err != nil {
				return err
			}
		case r := <-t.reqs:
			if err := s.transmit(r); err != nil {
				return err
			}
		case <-hb.C:
			if err := s.heartbeat(); err != nil {
				return err
			}
		}
	}
}

// read turns datagrams into frames until the socket closes.
func (s *session) read() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			select {
			case s.errc <- sdk.Errorf(sdk.KindConnectionFailed, "gateway %s: %w", s.t.s.gateway, err):
			default:
			}
			return
		}
		if !from.IP.Equal(s.ctrl.IP) && !from.IP.Equal(s.data.Load().IP) {
			continue // not from the gateway
		}
		f, err := knxnet.Decode(buf[:n])
		if err != nil {
			s.t.log.Debug("ignoring datagram from gateway", "error", err)
			continue
		}
		select {
		case s.frames <- f:
		case <-s.quit:
			return
		}
	}
}

func (s *session) write(f knxnet.Frame) error {
	b, err := knxnet.Encode(f)
	if err != nil {
		return err
	}
	to := s.ctrl
	switch f.(type) {
	case *knxnet.TunnellingRequest, *knxnet.TunnellingAck:
		to = s.data.Load()
	}
	if _, err := s.conn.WriteToUDP(b, to); err != nil {
		return sdk.Errorf(sdk.KindConnectionFailed, "gateway %s: send %s: %w", s.t.s.gateway, f.Service(), err)
	}
	return nil
}

// await waits for a frame that match accepts, handling every other frame meanwhile.
// match gets the frame and, for a new tunnelling request, its cEMI message.
func (s *session) await(timeout time.Duration, match func(knxnet.Frame, *knxnet.CEMI) bool) (knxnet.Frame, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case f := <-s.frames:
			c, err := s.handle(f)
			if err != nil {
				return nil, err
			}
			if match(f, c) {
				return f, nil
			}
		case err := <-s.errc:
			return nil, err
		case <-timer.C:
			return nil, errAwaitTimeout
		case <-s.ctx.Done():
			return nil, s.ctx.Err()
		}
	}
}

func (s *session) connect() error {
	req := &knxnet.ConnectRequest{Control: s.hpai, Data: s.hpai, Layer: knxnet.TunnelLinkLayer}
	if err := s.write(req); err != nil {
		return err
	}
	f, err := s.await(s.t.s.connectTimeout, func(f knxnet.Frame, _ *knxnet.CEMI) bool {
		_, ok := f.(*knxnet.ConnectResponse)
		return ok
	})
	if errors.Is(err, errAwaitTimeout) {
		return sdk.Errorf(sdk.KindTimeout, "gateway %s: no CONNECT_RESPONSE within %s", s.t.s.gateway, s.t.s.connectTimeout)
	}
	if err != nil {
		return err
	}
	resp := f.(*knxnet.ConnectResponse)
	if resp.Status != knxnet.StatusOK {
		return sdk.Errorf(sdk.KindConnectionFailed, "gateway %s refused the tunnel: %s", s.t.s.gateway, resp.Status)
	}
	s.up, s.channel, s.addr = true, resp.Channel, resp.Address
	if d := resp.Data.Addr; d.Port() != 0 && !d.Addr().IsUnspecified() {
		s.data.Store(net.UDPAddrFromAddrPort(d))
	}
	return nil
}

// handle acknowledges tunnelling requests from the gateway and passes their
// indications on; it returns the cEMI of a new (not repeated) request. A
// DISCONNECT_REQUEST from the gateway ends the session.
func (s *session) handle(f knxnet.Frame) (*knxnet.CEMI, error) {
	switch f := f.(type) {
	case *knxnet.TunnellingRequest:
		if !s.up || f.Channel != s.channel {
			return nil, nil
		}
		switch f.Seq {
		case s.recvSeq:
			s.recvSeq++
			if err := s.write(&knxnet.TunnellingAck{Channel: s.channel, Seq: f.Seq}); err != nil {
				return nil, err
			}
			if f.CEMI.Code == knxnet.LDataInd {
				s.t.h.telegram(&f.CEMI)
			}
			return &f.CEMI, nil
		case s.recvSeq - 1: // a repeat: our ACK was lost; acknowledge again, do not process
			return nil, s.write(&knxnet.TunnellingAck{Channel: s.channel, Seq: f.Seq})
		}
		s.t.log.Debug("dropping tunnelling request out of sequence", "seq", f.Seq, "want", s.recvSeq)
	case *knxnet.DisconnectRequest:
		if s.up && f.Channel == s.channel {
			s.up = false
			_ = s.write(&knxnet.DisconnectResponse{Channel: s.channel})
			return nil, sdk.Errorf(sdk.KindConnectionFailed, "gateway %s closed the tunnel", s.t.s.gateway)
		}
	}
	return nil, nil
}

// transmit sends one telegram: TUNNELLING_REQUEST, one retransmit when the ACK does
// not come in time, then the wait for L_Data.con. A second missing ACK ends the session.
func (s *session) transmit(r *request) error {
	if err := r.ctx.Err(); err != nil {
		r.done <- sdk.Errorf(sdk.KindTimeout, "knx: telegram to %s not sent: %v", knxnet.GroupAddress(r.cemi.Dest), err)
		return nil
	}
	seq := s.sendSeq
	req := &knxnet.TunnellingRequest{Channel: s.channel, Seq: seq, CEMI: r.cemi}
	var ack *knxnet.TunnellingAck
	for attempt := 1; attempt <= 2 && ack == nil; attempt++ {
		if err := s.write(req); err != nil {
			r.done <- err
			return err
		}
		f, err := s.await(s.t.s.ackTimeout, func(f knxnet.Frame, _ *knxnet.CEMI) bool {
			a, ok := f.(*knxnet.TunnellingAck)
			return ok && a.Channel == s.channel && a.Seq == seq
		})
		switch {
		case errors.Is(err, errAwaitTimeout):
			s.t.log.Debug("no TUNNELLING_ACK", "seq", seq, "attempt", attempt)
		case err != nil:
			r.done <- err
			return err
		default:
			ack = f.(*knxnet.TunnellingAck)
		}
	}
	if ack == nil {
		err := sdk.Errorf(sdk.KindTimeout, "gateway %s did not acknowledge TUNNELLING_REQUEST %d (sent twice, %s timeout)", s.t.s.gateway, seq, s.t.s.ackTimeout)
		r.done <- err
		s.disconnect()
		return err
	}
	s.sendSeq++
	if ack.Status != knxnet.StatusOK {
		err := sdk.Errorf(sdk.KindConnectionFailed, "gateway %s rejected TUNNELLING_REQUEST %d: %s", s.t.s.gateway, seq, ack.Status)
		r.done <- err
		s.disconnect()
		return err
	}
	var con *knxnet.CEMI
	_, err := s.await(s.t.s.confirmTimeout, func(_ knxnet.Frame, c *knxnet.CEMI) bool {
		if c != nil && c.Code == knxnet.LDataCon && c.Dest == r.cemi.Dest && bytes.Equal(c.TPDU, r.cemi.TPDU) {
			con = c
			return true
		}
		return false
	})
	switch {
	case errors.Is(err, errAwaitTimeout):
		r.done <- sdk.Errorf(sdk.KindTimeout, "gateway %s: no L_Data.con for the telegram to %s within %s", s.t.s.gateway, knxnet.GroupAddress(r.cemi.Dest), s.t.s.confirmTimeout)
		return nil
	case err != nil:
		r.done <- err
		return err
	case con.Failed():
		r.done <- sdk.Errorf(sdk.KindConnectionFailed, "gateway %s could not send the telegram to %s on the bus (L_Data.con reports an error)", s.t.s.gateway, knxnet.GroupAddress(r.cemi.Dest))
	default:
		r.done <- nil
	}
	return nil
}

// heartbeat sends CONNECTIONSTATE_REQUEST up to three times; the tunnel is lost when
// none is answered or the gateway reports an error.
func (s *session) heartbeat() error {
	for attempt := 1; attempt <= heartbeatAttempts; attempt++ {
		if err := s.write(&knxnet.ConnectionStateRequest{Channel: s.channel, Control: s.hpai}); err != nil {
			return err
		}
		f, err := s.await(s.t.s.heartbeatTimeout, func(f knxnet.Frame, _ *knxnet.CEMI) bool {
			r, ok := f.(*knxnet.ConnectionStateResponse)
			return ok && r.Channel == s.channel
		})
		if errors.Is(err, errAwaitTimeout) {
			continue
		}
		if err != nil {
			return err
		}
		if st := f.(*knxnet.ConnectionStateResponse).Status; st != knxnet.StatusOK {
			return sdk.Errorf(sdk.KindConnectionFailed, "gateway %s reports tunnel %d: %s", s.t.s.gateway, s.channel, st)
		}
		return nil
	}
	s.disconnect()
	return sdk.Errorf(sdk.KindTimeout, "gateway %s answered none of %d heartbeats (%s timeout)", s.t.s.gateway, heartbeatAttempts, s.t.s.heartbeatTimeout)
}

// disconnect sends DISCONNECT_REQUEST and waits briefly for the answer.
func (s *session) disconnect() {
	if !s.up {
		return
	}
	s.up = false
	s.t.rc.MarkDown(errors.New("tunnel is disconnecting"))
	if err := s.write(&knxnet.DisconnectRequest{Channel: s.channel, Control: s.hpai}); err != nil {
		return
	}
	timer := time.NewTimer(min(time.Second, s.t.s.connectTimeout))
	defer timer.Stop()
	for {
		select {
		case f := <-s.frames:
			if r, ok := f.(*knxnet.DisconnectResponse); ok && r.Channel == s.channel {
				return
			}
		case <-s.errc:
			return
		case <-timer.C:
			return
		}
	}
}
