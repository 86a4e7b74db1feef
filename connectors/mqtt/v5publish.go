package mqtt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho/session"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// v5LinkPublisher publishes one link_to over MQTT 5. A batch goes out pipelined like
// MQTT 3.1.1's (linkPublisher): each QoS 1/2 message enters the session (a packet id,
// waiting while the broker's receive maximum is in flight) and is written at once, in
// order; the acknowledgements are awaited afterwards.
type v5LinkPublisher struct {
	v      *v5Client
	topic  string
	qos    byte
	retain bool
	props  v5LinkTo            // bound to the link (bind)
	static *packets.Properties // the properties of every message, unless they hold ${time}
	alias  v5Alias
}

// v5Alias is a link's topic alias on one connection.
type v5Alias struct {
	on   *v5Session // the connection it belongs to
	n    uint16     // 0: none granted
	sent bool       // a message carrying topic and alias was written: the broker knows it
}

// prepareLink returns the publisher of a link_to whose MQTT 3.1.1 options lo are parsed.
func (v *v5Client) prepareLink(l sdk.LinkSpec, lo linkOptions) (sdk.LinkPublisher, error) {
	o, err := parseV5LinkTo(true, l.Config)
	if err != nil {
		return nil, err
	}
	return v.newPublisher(l.Resource, lo, o, l.Record), nil
}

// publish sends one message to destination without a prepared link (no topic alias,
// ${record} empty).
func (v *v5Client) publish(ctx context.Context, destination string, lo linkOptions, cfg sdk.Config, payload []byte) error {
	o, err := parseV5LinkTo(true, cfg)
	if err != nil {
		return &sdk.Error{Kind: sdk.KindOf(err), Err: fmt.Errorf("mqtt topic %q: %w", destination, plain(err))}
	}
	o.topicAlias = false
	errs := make([]error, 1)
	v.newPublisher(destination, lo, o, "").PublishBatch(ctx, [][]byte{payload}, errs)
	return errs[0]
}

func (v *v5Client) newPublisher(topic string, lo linkOptions, o v5LinkTo, record string) *v5LinkPublisher {
	vars := templateVars{record: record, instance: v.c.name, topic: topic}
	o.contentType = o.contentType.bind(vars)
	dynamic := o.contentType.dynamic()
	for i := range o.userProps {
		o.userProps[i].value = o.userProps[i].value.bind(vars)
		dynamic = dynamic || o.userProps[i].value.dynamic()
	}
	p := &v5LinkPublisher{v: v, topic: topic, qos: lo.qos, retain: lo.retain, props: o}
	if !dynamic {
		p.static = p.properties(time.Time{})
	}
	return p
}

// properties are the properties of a message published at now.
func (p *v5LinkPublisher) properties(now time.Time) *packets.Properties {
	if p.static != nil {
		return p.static
	}
	pp := &packets.Properties{}
	if !p.props.contentType.empty() {
		pp.ContentType = p.props.contentType.expand(now)
	}
	if p.props.messageExpiry > 0 {
		e := seconds(p.props.messageExpiry)
		pp.MessageExpiry = &e
	}
	for _, u := range p.props.userProps {
		pp.User = append(pp.User, packets.User{Key: u.name, Value: u.value.expand(now)})
	}
	return pp
}

// PublishBatch publishes payloads in order, at most maxOutInflight unacknowledged (and
// no more than the broker's receive maximum), and waits for every one's outcome within
// publish_timeout: for QoS 1 and 2 the broker's acknowledgement, for QoS 0 the write.
func (p *v5LinkPublisher) PublishBatch(ctx context.Context, payloads [][]byte, errs []error) {
	c := p.v.c
	if c.closed.Load() {
		fill(errs, sdk.Errorf(sdk.KindClosed, "mqtt connector %q is closed", c.name))
		return
	}
	cur := p.v.current()
	if cur == nil || !c.rc.Connected() {
		c.stats.publishNotConnected.Add(uint64(len(payloads)))
		fill(errs, c.notConnected(p.topic))
		return
	}
	defer c.awaitAcks(p.qos)()
	wctx, cancel := context.WithTimeout(ctx, c.s.publishTimeout)
	defer cancel()
	rets := make([]chan packets.ControlPacket, len(payloads))
	var pending []int // written, not settled, oldest first
	settle := func(i int) {
		if errs[i] = p.await(ctx, wctx, cur, rets[i]); errs[i] != nil {
			c.stats.publishFailed.Add(1)
		} else {
			c.stats.published.Add(1)
		}
	}
	for i, payload := range payloads {
		if err := p.check(cur, payload); err != nil {
			errs[i] = err
			continue
		}
		if len(pending) == maxOutInflight {
			settle(pending[0])
			pending = pending[1:]
		}
		ret, err := p.send(ctx, wctx, cur, payload)
		switch {
		case err != nil:
			errs[i] = err
			c.stats.publishFailed.Add(1)
		case ret == nil: // QoS 0: written
			c.stats.published.Add(1)
		default:
			rets[i] = ret
			pending = append(pending, i)
		}
	}
	for _, i := range pending {
		settle(i)
	}
}

// publishOn publishes one message on cur and waits for its outcome (the status
// messages; not counted in Stats, as with MQTT 3.1.1).
func (p *v5LinkPublisher) publishOn(ctx context.Context, cur *v5Session, payload []byte) error {
	if err := p.check(cur, payload); err != nil {
		return err
	}
	ret, err := p.send(ctx, ctx, cur, payload)
	if err != nil || ret == nil {
		return err
	}
	return p.await(ctx, ctx, cur, ret)
}

// check refuses a message that cannot go out on cur: too large for max_payload or
// MQTT, or a QoS or retain flag the broker's CONNACK does not allow.
func (p *v5LinkPublisher) check(cur *v5Session, payload []byte) error {
	if err := p.v.c.checkSize(p.topic, payload); err != nil {
		return err
	}
	return p.allowed(cur)
}

// send writes one message (passed by check) on cur; for QoS 1 and 2 it returns the
// channel its acknowledgement will come on.
func (p *v5LinkPublisher) send(ctx, wctx context.Context, cur *v5Session, payload []byte) (chan packets.ControlPacket, error) {
	c := p.v.c
	pkt := &packets.Publish{Topic: p.topic, QoS: p.qos, Retain: p.retain, Payload: payload, Properties: p.properties(time.Now())}
	if err := p.fits(cur, pkt); err != nil {
		return nil, err
	}
	var ret chan packets.ControlPacket
	if p.qos > 0 {
		ret = make(chan packets.ControlPacket, 1)
		if err := p.v.state.AddToSession(wctx, pkt, ret); err != nil {
			return nil, p.sessionError(ctx, err)
		}
	}
	// The session stored the packet as it was (topic, no alias), for a resend on a
	// new connection, which knows no aliases; this connection may get the alias.
	aliased := p.useAlias(cur, pkt)
	if _, err := pkt.WriteTo(cur.conn); err != nil {
		_ = cur.conn.Close() // the session loop reconnects
		return nil, sdk.Errorf(sdk.KindConnectionFailed, "mqtt topic %q: write to broker %s: %w", p.topic, c.s.brokerNames(), err)
	}
	if aliased {
		p.alias.sent = true
	}
	return ret, nil
}

// allowed checks the link's QoS and retain flag against what the broker's CONNACK allows.
func (p *v5LinkPublisher) allowed(cur *v5Session) error {
	c := p.v.c
	if p.qos > cur.limits.maxQoS {
		return sdk.Errorf(sdk.KindUnsupportedQoS, "mqtt topic %q: broker %s takes QoS up to %d (Maximum QoS of its CONNACK), the link asks for %d", p.topic, c.s.brokerNames(), cur.limits.maxQoS, p.qos)
	}
	if p.retain && !cur.limits.retain {
		return sdk.Errorf(sdk.KindInvalidConfig, "mqtt topic %q: broker %s does not keep retained messages (Retain Available 0 in its CONNACK); set retain = false", p.topic, c.s.brokerNames())
	}
	return nil
}

// fits refuses a packet larger than the broker's Maximum Packet Size.
func (p *v5LinkPublisher) fits(cur *v5Session, pkt *packets.Publish) error {
	max := cur.limits.maxPacket
	if max == 0 {
		return nil
	}
	rest := 2 + len(pkt.Topic) + len(pkt.Payload) + 4 // topic, payload, property length
	if pkt.QoS > 0 {
		rest += 2
	}
	rest += len(pkt.Properties.Pack(packets.PUBLISH))
	if size := 1 + 4 + rest; size > int(max) { // fixed header: at most 5 bytes
		return sdk.Errorf(sdk.KindMessageTooLarge, "mqtt topic %q: packet of up to %d bytes exceeds the Maximum Packet Size of broker %s (%d)", p.topic, size, p.v.c.s.brokerNames(), max)
	}
	return nil
}

// useAlias sets the link's topic alias on pkt when the link uses aliases and the
// connection grants one: the first packet carries topic and alias, the later ones
// the alias alone. It reports whether pkt carries the alias.
func (p *v5LinkPublisher) useAlias(cur *v5Session, pkt *packets.Publish) bool {
	if !p.props.topicAlias || cur.limits.topicAliasMax == 0 {
		return false
	}
	if p.alias.on != cur {
		p.alias = v5Alias{on: cur}
		if n := cur.aliases.Add(1); n <= uint32(cur.limits.topicAliasMax) {
			p.alias.n = uint16(n)
		}
	}
	if p.alias.n == 0 {
		return false
	}
	props := *pkt.Properties // the publisher's static properties are shared
	n := p.alias.n
	props.TopicAlias = &n
	pkt.Properties = &props
	if p.alias.sent {
		pkt.Topic = ""
	}
	return true
}

// await waits for the acknowledgement on ret of a message written on cur.
func (p *v5LinkPublisher) await(ctx, wctx context.Context, cur *v5Session, ret chan packets.ControlPacket) error {
	select {
	case resp := <-ret:
		return p.outcome(resp)
	case <-cur.conn.dead:
		select {
		case resp := <-ret: // it made it before the connection dropped
			return p.outcome(resp)
		default:
			return sdk.Errorf(sdk.KindConnectionFailed, "mqtt topic %q: connection to broker %s lost before it acknowledged QoS %d: %v", p.topic, p.v.c.s.brokerNames(), p.qos, cur.conn.cause)
		}
	case <-wctx.Done():
		return p.timeout(ctx)
	}
}

// outcome classifies the packet that ended a QoS 1/2 publish.
func (p *v5LinkPublisher) outcome(resp packets.ControlPacket) error {
	var code byte
	var props *packets.Properties
	switch r := resp.Content.(type) {
	case *packets.Puback:
		code, props = r.ReasonCode, r.Properties
	case *packets.Pubrec:
		code, props = r.ReasonCode, r.Properties
	case *packets.Pubcomp:
		code, props = r.ReasonCode, r.Properties
	default: // the session ended before the acknowledgement: lost connection or close
		return sdk.Errorf(sdk.KindConnectionFailed, "mqtt topic %q: the session with broker %s ended before it acknowledged QoS %d", p.topic, p.v.c.s.brokerNames(), p.qos)
	}
	if code < 0x80 {
		return nil
	}
	reason := ""
	if props != nil {
		reason = props.ReasonString
	}
	return sdk.Errorf(publishKind(code), "mqtt topic %q: broker %s refused the message: %s", p.topic, p.v.c.s.brokerNames(), reasonText(code, reason))
}

// timeout is the error of a message not acknowledged in time: within publish_timeout,
// or before the caller's ctx ended.
func (p *v5LinkPublisher) timeout(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return sdk.Errorf(sdk.KindTimeout, "mqtt topic %q: %v", p.topic, err)
	}
	return sdk.Errorf(sdk.KindTimeout, "mqtt topic %q: broker %s did not acknowledge QoS %d within publish_timeout (%v)", p.topic, p.v.c.s.brokerNames(), p.qos, p.v.c.s.publishTimeout)
}

// sessionError classifies why a message could not enter the session.
func (p *v5LinkPublisher) sessionError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, session.ErrNoConnection):
		return sdk.Errorf(sdk.KindConnectionFailed, "mqtt topic %q: not connected to broker %s", p.topic, p.v.c.s.brokerNames())
	case errors.Is(err, session.ErrPacketIdentifiersExhausted):
		return sdk.Errorf(sdk.KindBufferFull, "mqtt topic %q: every packet id is in use", p.topic)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return p.timeout(ctx)
	}
	return sdk.Errorf(sdk.KindConnectionFailed, "mqtt topic %q: %v", p.topic, err)
}
