package knx

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// transport moves telegrams between the connector and the KNX network.
type transport interface {
	// run connects and keeps reconnecting until ctx ends.
	run(ctx context.Context)
	// send transmits one telegram: for a tunnel it returns once the gateway confirmed
	// it with L_Data.con; for routing once it left the socket.
	send(ctx context.Context, c knxnet.CEMI) error
	// health returns nil while connected.
	health() error
}

// handler receives what a transport hears.
type handler interface {
	telegram(c *knxnet.CEMI) // an L_Data.ind from the network; must not block
	connected()              // the transport (re)connected
}

// respondTimeout bounds answering one GroupValueRead.
const respondTimeout = 5 * time.Second

// responder is an outbound link with respond = true, declared at build or learnt
// from its Publish calls.
type responder struct {
	resource string
	opts     linkOptions
	last     []byte // last payload published, the answer when the host has none
}

type connector struct {
	b  *sdk.BuildContext
	s  settings
	tr transport

	routeOpts map[uint32]linkOptions
	notations []knxnet.Notation
	readInit  []knxnet.GroupAddress

	mu         sync.Mutex
	responders map[knxnet.GroupAddress]*responder

	reads   chan knxnet.GroupAddress // GroupValueReads to answer
	seed    chan struct{}            // send read = "init" requests
	ctx     context.Context
	cancel  context.CancelFunc
	stopped chan struct{}
	closed  atomic.Bool
}

func newConnector(b *sdk.BuildContext, s settings) *connector {
	ctx, cancel := context.WithCancel(b.Context())
	c := &connector{
		b: b, s: s,
		routeOpts:  map[uint32]linkOptions{},
		responders: map[knxnet.GroupAddress]*responder{},
		reads:      make(chan knxnet.GroupAddress, 64),
		seed:       make(chan struct{}, 1),
		ctx:        ctx, cancel: cancel,
		stopped: make(chan struct{}),
	}
	c.notations = routeNotations(b.Routes)
	if s.mode == modeRouting {
		c.tr = newRouting(s, b.Logger, c)
	} else {
		c.tr = newTunnel(s, b.Logger, c)
	}
	return c
}

// routeNotations lists the group address notations inbound routes are written in, so
// telegrams can be routed with topics in each.
func routeNotations(routes []sdk.Route) []knxnet.Notation {
	seen := map[knxnet.Notation]bool{}
	var out []knxnet.Notation
	for _, r := range routes {
		if len(r.Resource) > 0 && r.Resource[len(r.Resource)-1] == '#' {
			continue
		}
		n := knxnet.NotationOf(r.Resource)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) == 0 && len(routes) > 0 {
		out = append(out, knxnet.ThreeLevel)
	}
	return out
}

func (c *connector) start() {
	c.b.Go("knx-"+c.s.mode, func(context.Context) {
		defer close(c.stopped)
		c.tr.run(c.ctx)
	})
	c.b.Go("knx-reads", c.serveReads)
}

// Publish sends the payload as a GroupValueWrite to the group address destination.
func (c *connector) Publish(ctx context.Context, destination string, cfg sdk.Config, payload []byte) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "knx connector %q is closed", c.b.Instance)
	}
	ga, err := knxnet.ParseGroupAddress(destination)
	if err != nil {
		return sdk.Errorf(sdk.KindInvalidDestination, "knx: link_to %q: %v", "knx://"+destination, err)
	}
	lo, err := parseLinkOptions(sdk.Outbound, cfg)
	if err != nil {
		return sdk.Errorf(sdk.KindInvalidConfig, "knx: link_to %q: %v", "knx://"+destination, err)
	}
	lo.dpt = c.s.ets.typeFor(lo.dpt, ga)
	data, short, err := encodeValue(lo, payload)
	if err != nil {
		kind := sdk.KindRejected
		if errors.Is(err, errTooLarge) {
			kind = sdk.KindMessageTooLarge
		}
		return sdk.Errorf(kind, "knx: link_to %q: %v", "knx://"+destination, err)
	}
	if lo.respond {
		c.mu.Lock()
		c.responders[ga] = &responder{resource: destination, opts: lo, last: append([]byte(nil), payload...)}
		c.mu.Unlock()
	}
	tel, err := knxnet.NewGroupTelegram(knxnet.LDataReq, 0, ga, knxnet.APDU{Command: knxnet.GroupValueWrite, Data: data, Short: short})
	if err != nil {
		return sdk.Errorf(sdk.KindRejected, "knx: link_to %q: %v", "knx://"+destination, err)
	}
	return c.tr.send(ctx, tel)
}

// Health reports whether the tunnel is up (or the routing sockets are open).
func (c *connector) Health(context.Context) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "knx connector %q is closed", c.b.Instance)
	}
	return c.tr.health()
}

// Close disconnects the tunnel (DISCONNECT_REQUEST) or leaves the multicast group.
func (c *connector) Close(ctx context.Context) error {
	c.closed.Store(true)
	c.cancel()
	select {
	case <-c.stopped:
		return nil
	case <-ctx.Done():
		return sdk.Errorf(sdk.KindTimeout, "knx connector %q: disconnect did not finish: %v", c.b.Instance, ctx.Err())
	}
}

// telegram handles an L_Data.ind: writes and responses go to the routes, reads to
// the responders.
func (c *connector) telegram(m *knxnet.CEMI) {
	if m.Code != knxnet.LDataInd || !m.IsGroup() {
		return
	}
	ga, apdu, err := m.GroupTelegram()
	if err != nil {
		c.b.Logger.Debug("ignoring telegram", "from", m.Source.String(), "error", err)
		return
	}
	switch apdu.Command {
	case knxnet.GroupValueRead:
		c.mu.Lock()
		_, ok := c.responders[ga]
		c.mu.Unlock()
		if ok {
			select {
			case c.reads <- ga:
			default:
				c.b.Logger.Warn("too many GroupValueReads waiting; dropping one", "group_address", ga.String())
			}
		}
	case knxnet.GroupValueWrite, knxnet.GroupValueResponse:
		c.deliver(ga, m.Source, apdu)
	}
}

// deliver routes a value with the group address written in each notation the routes use.
func (c *connector) deliver(ga knxnet.GroupAddress, src knxnet.IndividualAddress, apdu knxnet.APDU) {
	for _, n := range c.notations {
		topic := ga.Format(n)
		routes := c.b.Router.Match(topic)
		if len(routes) == 0 {
			continue
		}
		lo := c.routeOpts[routes[0].ID]
		payload, err := decodeValue(c.s.ets.typeFor(lo.dpt, ga), apdu.Data)
		if err != nil {
			c.b.Logger.Warn("cannot decode telegram", "group_address", topic, "from", src.String(), "record", routes[0].Record, "error", err)
			continue
		}
		c.b.Router.Dispatch(topic, payload, func(err error) {
			if err != nil {
				c.b.Logger.Warn("host did not take KNX value", "group_address", topic, "error", err)
			}
		})
	}
}

// connected asks for the read = "init" requests; it never blocks the transport.
func (c *connector) connected() {
	if len(c.readInit) == 0 {
		return
	}
	select {
	case c.seed <- struct{}{}:
	default:
	}
}

// serveReads sends read = "init" GroupValueReads and answers GroupValueReads, one at
// a time, off the transport's goroutine.
func (c *connector) serveReads(context.Context) {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.seed:
			for _, ga := range c.readInit {
				tel, _ := knxnet.NewGroupTelegram(knxnet.LDataReq, 0, ga, knxnet.APDU{Command: knxnet.GroupValueRead})
				ctx, cancel := context.WithTimeout(c.ctx, respondTimeout)
				err := c.tr.send(ctx, tel)
				cancel()
				if err != nil {
					c.b.Logger.Warn("GroupValueRead for read = \"init\" failed", "group_address", ga.String(), "error", err)
				}
			}
		case ga := <-c.reads:
			c.respond(ga)
		}
	}
}

// respond answers a GroupValueRead with the record's latest value: the host's, or the
// last one published when the host cannot say.
func (c *connector) respond(ga knxnet.GroupAddress) {
	c.mu.Lock()
	r := *c.responders[ga]
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, respondTimeout)
	defer cancel()
	value, err := c.b.Host.Latest(ctx, r.resource)
	if err != nil || len(value) == 0 {
		if len(r.last) == 0 {
			c.b.Logger.Debug("no value yet; GroupValueRead left unanswered", "group_address", r.resource, "error", err)
			return
		}
		c.b.Logger.Debug("host has no latest value; answering with the last published one", "group_address", r.resource, "error", err)
		value = r.last
	}
	data, short, err := encodeValue(r.opts, value)
	if err != nil {
		c.b.Logger.Warn("cannot answer GroupValueRead", "group_address", r.resource, "error", err)
		return
	}
	tel, err := knxnet.NewGroupTelegram(knxnet.LDataReq, 0, ga, knxnet.APDU{Command: knxnet.GroupValueResponse, Data: data, Short: short})
	if err == nil {
		err = c.tr.send(ctx, tel)
	}
	if err != nil {
		c.b.Logger.Warn("cannot answer GroupValueRead", "group_address", r.resource, "error", err)
	}
}
