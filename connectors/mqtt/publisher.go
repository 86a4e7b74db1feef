package mqtt

import (
	"context"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// maxOutInflight bounds the QoS 1/2 publishes one link keeps unacknowledged at once:
// MQTT 3.1.1 has no receive maximum, so this stays well below the 65535 packet ids
// one client has and leaves room for the other links of the instance.
const maxOutInflight = 1024

// linkPublisher publishes one link_to: topic and options are checked once, and a
// batch goes out pipelined, every message written before the first acknowledgement
// is awaited, so one destination is not bound by one broker round trip per message.
// The SDK calls PublishBatch for one link at a time.
type linkPublisher struct {
	c     *Connector
	topic string
	opts  linkOptions
}

// PrepareLink checks a link_to's topic and options once and returns its publisher.
func (c *Connector) PrepareLink(l sdk.LinkSpec) (sdk.LinkPublisher, error) {
	if err := checkPublishTopic(l.Resource); err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidDestination, "mqtt connector %q: %v", c.name, err)
	}
	lo, err := parseLinkTo(l.Config)
	if err != nil {
		return nil, err
	}
	if c.v5 != nil {
		return c.v5.prepareLink(l, lo)
	}
	return &linkPublisher{c: c, topic: l.Resource, opts: lo}, nil
}

// PublishBatch publishes payloads in order, at most maxOutInflight unacknowledged,
// and waits for every one's outcome within publish_timeout: for QoS 1 and 2 the
// broker's acknowledgement, for QoS 0 the write. When the connection is lost, what is
// not acknowledged yet fails at once with connection failed.
func (p *linkPublisher) PublishBatch(ctx context.Context, payloads [][]byte, errs []error) {
	c := p.c
	if c.closed.Load() {
		fill(errs, sdk.Errorf(sdk.KindClosed, "mqtt connector %q is closed", c.name))
		return
	}
	down := c.connDown()
	if !c.rc.Connected() {
		c.stats.publishNotConnected.Add(uint64(len(payloads)))
		fill(errs, c.notConnected(p.topic))
		return
	}
	defer c.awaitAcks(p.opts.qos)()
	deadline := time.NewTimer(c.s.publishTimeout)
	defer deadline.Stop()
	expired := false
	tokens := make([]paho.Token, len(payloads))
	// outcome settles message i from its completed token.
	outcome := func(i int) {
		if err := tokens[i].Error(); err != nil {
			c.stats.publishFailed.Add(1)
			errs[i] = sdk.Errorf(publishErrorKind(err), "mqtt topic %q: publish to broker %s: %w", p.topic, c.s.brokerNames(), err)
			return
		}
		c.stats.published.Add(1)
	}
	// await settles message i: its token's outcome, the loss of its connection, or a timeout.
	await := func(i int) {
		if expired {
			errs[i] = p.timeout()
			return
		}
		select {
		case <-tokens[i].Done():
			outcome(i)
		case <-down:
			if tokenDone(tokens[i]) {
				outcome(i)
				return
			}
			c.stats.publishFailed.Add(1)
			errs[i] = c.lostUnder(p.topic)
		case <-deadline.C:
			expired = true
			errs[i] = p.timeout()
		case <-ctx.Done():
			expired = true
			c.stats.publishFailed.Add(1)
			errs[i] = sdk.Errorf(sdk.KindTimeout, "mqtt topic %q: %v", p.topic, ctx.Err())
		}
	}
	var pending []int // published, not settled, oldest first
	for i, payload := range payloads {
		if err := c.checkSize(p.topic, payload); err != nil {
			errs[i] = err
			continue
		}
		if len(pending) == maxOutInflight {
			await(pending[0])
			pending = pending[1:]
		}
		if isClosed(down) {
			c.stats.publishFailed.Add(1)
			errs[i] = c.lostUnder(p.topic)
			continue
		}
		tokens[i] = c.client.Publish(p.topic, p.opts.qos, p.opts.retain, payload)
		pending = append(pending, i)
	}
	for _, i := range pending {
		await(i)
	}
}

func (p *linkPublisher) timeout() error {
	p.c.stats.publishFailed.Add(1)
	return sdk.Errorf(sdk.KindTimeout, "mqtt topic %q: broker %s did not acknowledge QoS %d within publish_timeout (%v)", p.topic, p.c.s.brokerNames(), p.opts.qos, p.c.s.publishTimeout)
}

// checkSize refuses a payload larger than max_payload or than an MQTT packet holds.
func (c *Connector) checkSize(topic string, payload []byte) error {
	if len(payload) > c.s.maxPayload {
		return sdk.Errorf(sdk.KindMessageTooLarge, "mqtt topic %q: payload of %d bytes exceeds max_payload (%d)", topic, len(payload), c.s.maxPayload)
	}
	if size := 2 + len(topic) + 2 + len(payload); size > maxPacket {
		return sdk.Errorf(sdk.KindMessageTooLarge, "mqtt topic %q: packet of %d bytes exceeds MQTT's limit of %d", topic, size, maxPacket)
	}
	return nil
}

func fill(errs []error, err error) {
	for i := range errs {
		errs[i] = err
	}
}
