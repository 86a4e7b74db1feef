package grpcconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// conn is one connector instance: a grpc-go client connection over the URL's
// addresses, the streams of its link_from links and the publishers of its link_to links.
type conn struct {
	s      *settings
	sch    *schema
	cc     *grpc.ClientConn
	rc     *sdk.Reconnector
	router *sdk.Router
	log    hclog.Logger

	ctx    context.Context // ends when the instance closes
	cancel context.CancelFunc
	closed atomic.Bool
	first  chan struct{} // closed after the first connection attempt
	once   sync.Once

	pubs sync.Map // destination -> *publisher, for Publish

	refused   atomic.Int64 // streamed values the host refused for good
	undecoded atomic.Int64 // streamed messages that could not become a value
}

// Metrics reports the streamed values that were lost: refused by the host, or not
// convertible to a value (gRPC has no acknowledgement to withhold).
func (c *conn) Metrics() []sdk.Metric {
	return []sdk.Metric{
		{Name: "grpc_stream_values_refused_total", Help: "streamed values the host refused (logged, not replayed)", Kind: sdk.MetricCounter, Value: float64(c.refused.Load())},
		{Name: "grpc_stream_messages_undecoded_total", Help: "streamed messages that could not become a value (logged, dropped)", Kind: sdk.MetricCounter, Value: float64(c.undecoded.Load())},
	}
}

func newConn(b *sdk.BuildContext, s *settings, sch *schema, cc *grpc.ClientConn) *conn {
	c := &conn{s: s, sch: sch, cc: cc, router: b.Router, log: b.Logger, first: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(b.Context())
	c.rc = &sdk.Reconnector{
		Name:    fmt.Sprintf("gRPC server %s", joinAddrs(s.addrs)),
		Session: c.session,
		Backoff: s.backoff,
		Logger:  b.Logger,
	}
	return c
}

// joinAddrs prints the servers for logs.
func joinAddrs(addrs []string) string {
	if len(addrs) == 1 {
		return addrs[0]
	}
	return fmt.Sprint(addrs)
}

// session waits for the client connection to become ready (grpc-go dials and
// redials the addresses with its own backoff), marks it up, and returns when it
// is no longer ready.
func (c *conn) session(ctx context.Context) error {
	defer c.once.Do(func() { close(c.first) })
	c.cc.Connect()
	wait, cancel := context.WithTimeout(ctx, c.s.connectTimeout)
	state := c.cc.GetState()
	for state != connectivity.Ready {
		if !c.cc.WaitForStateChange(wait, state) {
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("not ready within %s (state %s)", c.s.connectTimeout, state)
		}
		state = c.cc.GetState()
	}
	cancel()
	c.rc.MarkUp()
	c.once.Do(func() { close(c.first) })
	for state == connectivity.Ready {
		if !c.cc.WaitForStateChange(ctx, state) {
			return ctx.Err()
		}
		state = c.cc.GetState()
	}
	return fmt.Errorf("connection lost (state %s)", state)
}

// Health returns nil while a server is reachable.
func (c *conn) Health(context.Context) error { return c.rc.Health() }

// Close ends the streams and closes the client connection; calls in flight fail
// with KindClosed.
func (c *conn) Close(context.Context) error {
	if c.closed.Swap(true) {
		return nil
	}
	c.cancel() // first, so the loops see their end as a close, not as a lost connection
	return c.cc.Close()
}

// PrepareLink resolves a link_to's method once: at once from proto_files (a method
// that does not fit fails the build), or through reflection on its first value.
func (c *conn) PrepareLink(l sdk.LinkSpec) (sdk.LinkPublisher, error) {
	p, err := c.newPublisher(l.Resource, l.Config)
	if err != nil {
		return nil, sdk.ForLink(l, err)
	}
	return p, nil
}

// newPublisher checks a link_to and, with proto_files, resolves its method.
func (c *conn) newPublisher(resource string, cfg sdk.Config) (*publisher, error) {
	m, lo, err := parseLink(sdk.Outbound, resource, cfg)
	if err != nil {
		return nil, err
	}
	p := &publisher{c: c, m: m, lo: lo}
	if c.sch.files != nil {
		if p.r, err = c.sch.resolve(c.ctx, c.cc, sdk.Outbound, m, lo); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Publish calls destination's method with payload; links are normally published
// through PrepareLink's publishers, this serves callers without them.
func (c *conn) Publish(ctx context.Context, destination string, cfg sdk.Config, payload []byte) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "grpc connector closed")
	}
	key := destination + "\x00" + fmt.Sprint(cfg)
	v, ok := c.pubs.Load(key)
	if !ok {
		p, err := c.newPublisher(destination, cfg)
		if err != nil {
			return err
		}
		v, _ = c.pubs.LoadOrStore(key, p)
	}
	return v.(*publisher).publish(ctx, payload)
}

// publisher calls one link_to's method: a unary one once per value, a
// client-streaming one once per batch, in order.
type publisher struct {
	c  *conn
	m  method
	lo linkOptions

	mu sync.Mutex
	r  *resolved // nil until resolved
}

// PublishBatch calls a unary method once per value, in order; after a retryable
// failure the rest of the batch is not sent and fails the same way, so the host sends
// them again in order. A client-streaming method gets the whole batch as one call.
func (p *publisher) PublishBatch(ctx context.Context, payloads [][]byte, errs []error) {
	if p.clientStreaming(ctx) {
		p.upload(ctx, payloads, errs)
		return
	}
	for i, pl := range payloads {
		errs[i] = p.publish(ctx, pl)
		if errs[i] != nil && sdk.Retryable(errs[i]) {
			for j := i + 1; j < len(payloads); j++ {
				errs[j] = errs[i]
			}
			return
		}
	}
}

// resolved returns the link's method, asking the server's reflection the first time.
func (p *publisher) resolved(ctx context.Context) (*resolved, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.r != nil {
		return p.r, nil
	}
	r, err := p.c.sch.resolve(ctx, p.c.cc, sdk.Outbound, p.m, p.lo)
	if err != nil {
		return nil, err
	}
	p.r = r
	return r, nil
}

// clientStreaming reports whether the link's method is client streaming; false
// while it is not resolved yet (publish resolves it, or says why it cannot).
func (p *publisher) clientStreaming(ctx context.Context) bool {
	if !p.c.rc.Connected() && p.c.sch.files == nil {
		return false
	}
	r, err := p.resolved(ctx)
	return err == nil && r.stream != nil
}

// ready checks that the instance can call, and returns the resolved method.
func (p *publisher) ready(ctx context.Context) (*resolved, error) {
	c := p.c
	if c.closed.Load() {
		return nil, sdk.Errorf(sdk.KindClosed, "grpc connector closed")
	}
	if !c.rc.Connected() {
		return nil, c.rc.Health()
	}
	return p.resolved(ctx)
}

// checkSize refuses a value longer than max_message_size less 16 bytes.
func (p *publisher) checkSize(payload []byte) error {
	max := p.c.s.maxMessage
	if limit := max - 16; len(payload) > limit {
		return sdk.Errorf(sdk.KindMessageTooLarge, "method %s: value of %d bytes is over %d (max_message_size %d less 16)", p.m, len(payload), limit, max)
	}
	return nil
}

// request builds the request of one value.
func (p *publisher) request(r *resolved, payload []byte) (*dynamicpb.Message, error) {
	if err := p.checkSize(payload); err != nil {
		return nil, err
	}
	max := p.c.s.maxMessage
	req := dynamicpb.NewMessage(r.desc.Input())
	if err := fill(req, r.field, payload); err != nil {
		return nil, sdk.Errorf(sdk.KindRejected, "method %s: %v", p.m, err)
	}
	if n := proto.Size(req); n > max {
		return nil, sdk.Errorf(sdk.KindMessageTooLarge, "method %s: request of %d bytes is over max_message_size (%d)", p.m, n, max)
	}
	return req, nil
}

// callContext bounds a call by the timeout and adds the metadata.
func (c *conn) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	if len(c.s.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, c.s.md)
	}
	return ctx, cancel
}

// callErr classifies a failed call.
func (c *conn) callErr(m method, err error) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "grpc connector closed during a call of %s", m)
	}
	return statusErr("call "+m.String(), err)
}

// publish makes one call: a unary call, or a client stream of one value.
func (p *publisher) publish(ctx context.Context, payload []byte) error {
	if err := p.checkSize(payload); err != nil {
		return err
	}
	r, err := p.ready(ctx)
	if err != nil {
		return err
	}
	if r.stream != nil {
		errs := make([]error, 1)
		p.upload(ctx, [][]byte{payload}, errs)
		return errs[0]
	}
	req, err := p.request(r, payload)
	if err != nil {
		return err
	}
	ctx, cancel := p.c.callContext(ctx)
	defer cancel()
	if err := p.c.cc.Invoke(ctx, r.m.fullMethod(), req, dynamicpb.NewMessage(r.desc.Output())); err != nil {
		return p.c.callErr(p.m, err)
	}
	return nil
}

// upload streams a batch of values to a client-streaming method as one call; the
// server's answer confirms every value it carried. A value that cannot become a
// request fails alone and is left out.
func (p *publisher) upload(ctx context.Context, payloads [][]byte, errs []error) {
	r, err := p.ready(ctx)
	if err != nil {
		fillErr(errs, err)
		return
	}
	reqs := make([]*dynamicpb.Message, len(payloads))
	sent := 0
	for i, pl := range payloads {
		if reqs[i], errs[i] = p.request(r, pl); errs[i] == nil {
			sent++
		}
	}
	if sent == 0 {
		return
	}
	ctx, cancel := p.c.callContext(ctx)
	defer cancel()
	err = p.c.callStream(ctx, r, reqs)
	for i := range errs {
		if reqs[i] != nil {
			errs[i] = err
		}
	}
}

// callStream makes one client-streaming call with reqs (nil ones left out).
func (c *conn) callStream(ctx context.Context, r *resolved, reqs []*dynamicpb.Message) error {
	st, err := c.cc.NewStream(ctx, r.stream, r.m.fullMethod())
	if err != nil {
		return c.callErr(r.m, err)
	}
	for _, req := range reqs {
		if req == nil {
			continue
		}
		if st.SendMsg(req) != nil {
			break // the stream broke: RecvMsg returns its status
		}
	}
	st.CloseSend()
	if err := st.RecvMsg(dynamicpb.NewMessage(r.desc.Output())); err != nil {
		return c.callErr(r.m, err)
	}
	return nil
}

// fillErr sets every outcome to err.
func fillErr(errs []error, err error) {
	for i := range errs {
		errs[i] = err
	}
}

// fill sets msg from a value: the raw value into field, or, without a field, the
// whole message from the value in JSON.
func fill(msg *dynamicpb.Message, field protoreflect.FieldDescriptor, payload []byte) error {
	if field == nil {
		if err := protojson.Unmarshal(payload, msg); err != nil {
			return fmt.Errorf("value is not a %s in JSON: %v", msg.Descriptor().FullName(), err)
		}
		return nil
	}
	if field.Kind() == protoreflect.StringKind {
		if !utf8.Valid(payload) {
			return fmt.Errorf("value is not UTF-8 text, which string field %s needs", field.Name())
		}
		msg.Set(field, protoreflect.ValueOfString(string(payload)))
		return nil
	}
	msg.Set(field, protoreflect.ValueOfBytes(payload))
	return nil
}

// inStream is the server stream that feeds the link_from links of one method.
type inStream struct {
	m     method
	lo    linkOptions
	topic string // the links' resource, routed through the Router
}

// watch keeps in's stream open until the instance closes, opening it again with
// backoff whenever it fails or the server ends it.
func (c *conn) watch(in *inStream) {
	rc := &sdk.Reconnector{Name: "stream " + in.m.String(), Backoff: c.s.backoff, Logger: c.log}
	rc.Session = func(ctx context.Context) error { return c.stream(ctx, rc, in) }
	rc.Run(c.ctx)
}

// stream opens in's stream once and routes every message it brings, in order, with
// at most streamWindow of them waiting for the host's acknowledgement: a slow record
// slows the stream, through gRPC's flow control.
func (c *conn) stream(ctx context.Context, rc *sdk.Reconnector, in *inStream) error {
	r, err := c.sch.resolve(ctx, c.cc, sdk.Inbound, in.m, in.lo)
	if err != nil {
		return err
	}
	req := dynamicpb.NewMessage(r.desc.Input())
	if err := protojson.Unmarshal([]byte(in.lo.request), req); err != nil {
		return sdk.Errorf(sdk.KindInvalidConfig, "option %q: %v", optRequest, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if len(c.s.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, c.s.md)
	}
	st, err := c.cc.NewStream(ctx, r.stream, r.m.fullMethod(), grpc.WaitForReady(true))
	if err != nil {
		return statusErr("open stream "+in.m.String(), err)
	}
	if err := st.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return statusErr("open stream "+in.m.String(), err)
	}
	if err := st.CloseSend(); err != nil {
		return statusErr("open stream "+in.m.String(), err)
	}
	rc.MarkUp("method", in.m.String())
	window := make(chan struct{}, streamWindow)
	ack := func(err error) {
		<-window
		if err != nil {
			c.refused.Add(1)
			c.log.Warn("the host refused a streamed message", "method", in.m.String(), "error", err)
		}
	}
	enc := protojson.MarshalOptions{EmitUnpopulated: in.lo.emitDefaults}
	for {
		msg := dynamicpb.NewMessage(r.desc.Output())
		if err := st.RecvMsg(msg); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the server ended the stream")
			}
			return statusErr("stream "+in.m.String(), err)
		}
		value, err := valueOf(enc, msg, r.field)
		if err != nil {
			c.undecoded.Add(1)
			c.log.Warn("message dropped: it cannot become a value", "method", in.m.String(), "error", err)
			continue
		}
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.router.Dispatch(in.topic, value, ack)
	}
}

// streamWindow is how many messages of one stream may wait for the host's
// acknowledgement; the stream is read no further until one comes back.
const streamWindow = 256

// valueOf turns a streamed message into a value: its payload_field, or the whole
// message in JSON.
func valueOf(enc protojson.MarshalOptions, msg *dynamicpb.Message, field protoreflect.FieldDescriptor) ([]byte, error) {
	if field == nil {
		return enc.Marshal(msg)
	}
	if field.Kind() == protoreflect.StringKind {
		return []byte(msg.Get(field).String()), nil
	}
	return msg.Get(field).Bytes(), nil
}
