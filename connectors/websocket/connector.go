package websocket

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Connector is one WebSocket connector instance: one connection per link resource,
// or one shared connection when frames are routed by a JSON field.
type Connector struct {
	s      *settings
	name   string
	router *sdk.Router
	log    hclog.Logger
	client *http.Client

	endpoints map[string]*endpoint // by resource; "" when routed
	list      []*endpoint
	closed    atomic.Bool

	sent, received, dropped, refused atomic.Int64
}

// add opens (in the background) the connection that carries resource, once.
func (c *Connector) add(resource string, b *sdk.BuildContext) {
	if _, ok := c.endpoints[resource]; ok {
		return
	}
	e := newEndpoint(c, resource)
	c.endpoints[resource] = e
	c.list = append(c.list, e)
	b.Go("websocket "+e.name, e.rc.Run)
}

// endpointFor returns the connection that carries destination.
func (c *Connector) endpointFor(destination string) (*endpoint, error) {
	key := destination
	if c.s.routed() {
		key = ""
	}
	e, ok := c.endpoints[key]
	if !ok {
		return nil, sdk.Errorf(sdk.KindInvalidDestination, "websocket connector %q: no link_to %q was declared; connections open at build", c.name, destination)
	}
	return e, nil
}

// Publish sends one value to destination (the path of a link_to, or its topic when
// routed) with the link's options cfg.
func (c *Connector) Publish(ctx context.Context, destination string, cfg sdk.Config, payload []byte) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "websocket connector %q is closed", c.name)
	}
	if err := checkResource(c.s, sdk.Outbound, destination); err != nil {
		return err
	}
	lt, err := parseLinkTo(cfg)
	if err != nil {
		return err
	}
	e, err := c.endpointFor(destination)
	if err != nil {
		return err
	}
	errs := make([]error, 1)
	(&publisher{c: c, e: e, topic: destination, opts: lt}).PublishBatch(ctx, [][]byte{payload}, errs)
	return errs[0]
}

// PrepareLink parses a link_to's options and finds its connection once.
func (c *Connector) PrepareLink(l sdk.LinkSpec) (sdk.LinkPublisher, error) {
	if err := validateLink(c.s, sdk.Outbound, l.Resource, l.Config); err != nil {
		return nil, err
	}
	lt, _ := parseLinkTo(l.Config)
	e, err := c.endpointFor(l.Resource)
	if err != nil {
		return nil, err
	}
	return &publisher{c: c, e: e, topic: l.Resource, opts: lt}, nil
}

// Health returns nil while every connection is up, else the first one's trouble.
func (c *Connector) Health(context.Context) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "websocket connector %q is closed", c.name)
	}
	for _, e := range c.list {
		if err := e.rc.Health(); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the connections: the SDK cancels their sessions, which close each
// connection with status 1001 (going away), and waits for them.
func (c *Connector) Close(context.Context) error {
	if c.closed.Swap(true) {
		return nil
	}
	c.client.CloseIdleConnections()
	return nil
}

// Metrics reports the connector's counters.
func (c *Connector) Metrics() []sdk.Metric {
	var up, losses int64
	for _, e := range c.list {
		if e.rc.Connected() {
			up++
		}
		losses += e.rc.Stats().Losses
	}
	return []sdk.Metric{
		{Name: "websocket_connections", Help: "WebSocket connections up", Kind: sdk.MetricGauge, Value: float64(up)},
		{Name: "websocket_connections_lost_total", Help: "WebSocket connections lost after they were up", Kind: sdk.MetricCounter, Value: float64(losses)},
		{Name: "websocket_frames_sent_total", Help: "frames sent (confirmed when confirm = ping)", Kind: sdk.MetricCounter, Value: float64(c.sent.Load())},
		{Name: "websocket_frames_received_total", Help: "frames received", Kind: sdk.MetricCounter, Value: float64(c.received.Load())},
		{Name: "websocket_frames_dropped_total", Help: "received frames no link_from took: no route, or no topic or payload field", Kind: sdk.MetricCounter, Value: float64(c.dropped.Load())},
		{Name: "websocket_frames_refused_total", Help: "received frames the host refused (it could not decode them, or its buffer was full)", Kind: sdk.MetricCounter, Value: float64(c.refused.Load())},
	}
}

// deliver hands one received frame to the host through the router; release is
// called once the host answered.
func (c *Connector) deliver(e *endpoint, frame []byte, release func()) {
	c.received.Add(1)
	topic, payload := e.resource, frame
	if c.s.routed() {
		var err error
		if topic, err = topicOf(frame, c.s.routeField); err == nil {
			payload, err = payloadOf(frame, c.s.payloadField)
		}
		if err != nil {
			c.dropped.Add(1)
			c.log.Debug("frame dropped", "url", e.name, "error", err)
			release()
			return
		}
	}
	c.router.Dispatch(topic, payload, func(err error) {
		release()
		switch {
		case err == nil:
		case errors.Is(err, sdk.ErrNoRoute):
			c.dropped.Add(1)
			c.log.Debug("frame matched no link_from", "url", e.name, "topic", topic)
		default:
			c.refused.Add(1)
			c.log.Warn("the host refused a received frame; WebSocket cannot ask for it again", "url", e.name, "topic", topic, "error", err)
		}
	})
}

// publisher sends the values of one link_to.
type publisher struct {
	c     *Connector
	e     *endpoint
	topic string
	opts  linkTo
}

// PublishBatch writes the payloads as frames, in order, and with confirm = "ping"
// then pings: the pong says the server read every frame before it.
func (p *publisher) PublishBatch(ctx context.Context, payloads [][]byte, errs []error) {
	if p.c.closed.Load() {
		fill(errs, 0, sdk.Errorf(sdk.KindClosed, "websocket connector %q is closed", p.c.name))
		return
	}
	s := p.c.s
	frames := make([]frame, len(payloads))
	for i, v := range payloads {
		f := frame{data: v, binary: p.opts.frame == "binary" || p.opts.frame == "auto" && !utf8.Valid(v)}
		if s.routed() {
			env, err := envelope(s.routeField, p.topic, s.payloadField, v)
			if err != nil {
				errs[i] = err
				continue
			}
			f = frame{data: env}
		}
		if len(f.data) > s.maxPayload {
			errs[i] = sdk.Errorf(sdk.KindMessageTooLarge, "%d bytes is more than max_payload (%d)", len(f.data), s.maxPayload)
			continue
		}
		frames[i] = f
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.writeTimeout)
		defer cancel()
	}
	p.c.sent.Add(int64(p.e.send(ctx, frames, errs, p.opts.confirm)))
}

// fill sets every unset errs[i] from i = from on to err.
func fill(errs []error, from int, err error) {
	for i := from; i < len(errs); i++ {
		if errs[i] == nil {
			errs[i] = err
		}
	}
}

// frame is one message to send.
type frame struct {
	data   []byte
	binary bool
}
