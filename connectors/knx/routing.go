package knx

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// routing is a KNXnet/IP routing participant: it sends and hears ROUTING_INDICATIONs
// on the multicast group, paced to the bus rate and pausing on ROUTING_BUSY.
type routing struct {
	s   settings
	log hclog.Logger
	h   handler

	sendMu sync.Mutex // serialises sends, so pacing holds
	pace   *pacer

	mu        sync.Mutex
	group     *net.UDPAddr
	tx        *net.UDPConn
	self      *net.UDPAddr // tx's address as others see it, to skip our own telegrams
	busyUntil time.Time
	busyCount int
	lastBusy  time.Time
	lastErr   error
}

func newRouting(s settings, log hclog.Logger, h handler) *routing {
	return &routing{s: s, log: log, h: h, pace: newPacer(s.rateLimit), lastErr: errors.New("not started yet")}
}

func (r *routing) health() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tx != nil {
		return nil
	}
	return sdk.Errorf(sdk.KindConnectionFailed, "knx: routing on %s is down: %v", r.s.gateway, r.lastErr)
}

func (r *routing) run(ctx context.Context) {
	delay := r.s.reconnectMin
	for {
		opened, err := r.session(ctx)
		r.mu.Lock()
		r.tx, r.lastErr = nil, err
		r.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if opened {
			delay = r.s.reconnectMin
		}
		r.log.Warn("KNX routing sockets failed; reopening", "group", r.s.gateway, "error", err, "retry_in", delay)
		if sleepCtx(ctx, delay) != nil {
			return
		}
		delay = min(2*delay, r.s.reconnectMax)
	}
}

// session opens the sockets and reads the group until a socket fails or ctx ends.
func (r *routing) session(ctx context.Context) (bool, error) {
	group, err := net.ResolveUDPAddr("udp4", r.s.gateway)
	if err != nil {
		return false, sdk.Errorf(sdk.KindConnectionFailed, "routing group %s: %w", r.s.gateway, err)
	}
	var ifi *net.Interface
	if r.s.iface != "" {
		if ifi, err = net.InterfaceByName(r.s.iface); err != nil {
			return false, sdk.Errorf(sdk.KindConnectionFailed, "interface %q: %w", r.s.iface, err)
		}
	}
	rx, err := listenGroup(group, ifi)
	if err != nil {
		return false, sdk.Errorf(sdk.KindConnectionFailed, "join routing group %s: %w", group, err)
	}
	defer rx.Close()
	tx, err := multicastSender(ifi)
	if err != nil {
		return false, sdk.Errorf(sdk.KindConnectionFailed, "routing sender: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { rx.Close(); tx.Close() })
	defer stop()
	defer tx.Close()
	r.mu.Lock()
	r.group, r.tx, r.self, r.lastErr = group, tx, tx.LocalAddr().(*net.UDPAddr), nil
	r.mu.Unlock()
	r.log.Info("KNX routing joined", "group", group.String())
	r.h.connected()

	buf := make([]byte, 1500)
	for {
		n, from, err := rx.ReadFromUDP(buf)
		if err != nil {
			return true, sdk.Errorf(sdk.KindConnectionFailed, "routing group %s: %w", group, err)
		}
		if r.isSelf(from) {
			continue
		}
		f, err := knxnet.Decode(buf[:n])
		if err != nil {
			r.log.Debug("ignoring datagram on routing group", "from", from.String(), "error", err)
			continue
		}
		switch f := f.(type) {
		case *knxnet.RoutingIndication:
			r.h.telegram(&f.CEMI)
		case *knxnet.RoutingBusy:
			r.busy(time.Duration(f.WaitTime) * time.Millisecond)
		case *knxnet.RoutingLostMessage:
			r.log.Warn("a KNX router lost telegrams", "from", from.String(), "lost", f.Lost)
		}
	}
}

// isSelf reports whether a datagram came from our own sending socket (multicast loopback).
func (r *routing) isSelf(from *net.UDPAddr) bool {
	r.mu.Lock()
	self := r.self
	r.mu.Unlock()
	if self == nil || from.Port != self.Port {
		return false
	}
	if from.IP.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(from.IP) {
			return true
		}
	}
	return false
}

// busy pauses sending for the wait time a ROUTING_BUSY asks for, plus a random
// 0..N*50 ms where N counts the busy frames in a row, as the specification says.
func (r *routing) busy(wait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.lastBusy) > time.Second {
		r.busyCount = 0
	}
	r.busyCount++
	r.lastBusy = now
	until := now.Add(wait + rand.N(time.Duration(r.busyCount)*50*time.Millisecond))
	if until.After(r.busyUntil) {
		r.busyUntil = until
	}
	r.log.Debug("ROUTING_BUSY: pausing sends", "wait", wait)
}

func (r *routing) send(ctx context.Context, c knxnet.CEMI) error {
	c.Code = knxnet.LDataInd
	c.Source = r.s.address
	raw, err := knxnet.Encode(&knxnet.RoutingIndication{CEMI: c})
	if err != nil {
		return sdk.Errorf(sdk.KindRejected, "knx: %w", err)
	}
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	r.mu.Lock()
	pause := time.Until(r.busyUntil)
	r.mu.Unlock()
	if err := sleepCtx(ctx, pause); err != nil {
		return sdk.Errorf(sdk.KindTimeout, "knx: routing is busy: %v", err)
	}
	if err := r.pace.wait(ctx); err != nil {
		return sdk.Errorf(sdk.KindTimeout, "knx: waiting for the bus rate limit: %v", err)
	}
	r.mu.Lock()
	tx, group, lastErr := r.tx, r.group, r.lastErr
	r.mu.Unlock()
	if tx == nil {
		return sdk.Errorf(sdk.KindConnectionFailed, "knx: routing on %s is down: %v", r.s.gateway, lastErr)
	}
	if _, err := tx.WriteToUDP(raw, group); err != nil {
		return sdk.Errorf(sdk.KindConnectionFailed, "knx: send to routing group %s: %w", group, err)
	}
	return nil
}
