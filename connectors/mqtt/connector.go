package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Connector is one MQTT connector instance: a client connected (or reconnecting) to
// its broker, publishing outbound link values and feeding subscribed messages to the
// host through the SDK router.
//
// Publish fails fast with KindConnectionFailed while the broker is unreachable: the
// host keeps the value in its record buffer and retries, so nothing is lost and the
// caller is never blocked for a whole outage.
type Connector struct {
	name    string
	s       *settings
	log     hclog.Logger
	router  *sdk.Router
	filters map[string]byte // subscription filter -> QoS

	client   paho.Client // MQTT 3.1.1, or
	v5       *v5Client   // MQTT 5 (protocol = 5)
	embedded *embeddedBroker

	ctx    context.Context // ends when the instance closes
	cancel context.CancelFunc
	done   chan struct{} // closed when the session loop has disconnected
	first  chan struct{} // closed when the first connection attempt (and its subscription) ended
	closed atomic.Bool

	rc        *sdk.Reconnector // the session loop: connected or not, and why
	firstOnce sync.Once
	lost      chan error // connection-lost signals from paho
	mu        sync.Mutex
	subErr    error         // a subscription the broker refused, or nil
	down      chan struct{} // closed when the current connection is lost (closed while offline)

	inbound  inbound
	stats    counters
	awaiting atomic.Int64 // link batches with QoS 1/2 publishes awaiting acknowledgement
}

// Values of option tcp_quickack.
const (
	quickAckAlways     = "always"
	quickAckPublishing = "publishing"
)

// ackNow says, after each read from the broker, whether to acknowledge at once
// (dial): with tcp_quickack = "publishing" (the default) only while a link's QoS 1/2
// publishes await their acknowledgements, which a broker with Nagle's algorithm on
// holds back until it has our ACK; nil (always) with "always".
func (c *Connector) ackNow() func() bool {
	if c.s.quickAck != quickAckPublishing {
		return nil
	}
	return func() bool { return c.awaiting.Load() > 0 }
}

// awaitAcks counts a link batch of qos as awaiting acknowledgements until the
// returned func runs.
func (c *Connector) awaitAcks(qos byte) func() {
	if qos == 0 {
		return func() {}
	}
	c.awaiting.Add(1)
	return func() { c.awaiting.Add(-1) }
}

func newConnector(b *sdk.BuildContext, s *settings, filters map[string]byte) *Connector {
	ctx, cancel := context.WithCancel(b.Context())
	c := &Connector{
		name:    b.Instance,
		s:       s,
		log:     b.Logger,
		router:  b.Router,
		filters: filters,
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		first:   make(chan struct{}),
		lost:    make(chan error, 1),
		down:    closedChan(),
	}
	c.rc = &sdk.Reconnector{
		Name:    "MQTT broker " + s.brokerNames(),
		Session: c.session,
		Backoff: sdk.Backoff{Min: s.reconnectMin, Max: s.reconnectMax},
		Logger:  b.Logger,
	}
	c.inbound.init(c, s.maxInflight)
	return c
}

// Publish sends payload to the MQTT topic destination with the link's qos (default 1)
// and retain (default false). For QoS 1 and 2 it returns only once the broker has
// acknowledged (PUBACK or PUBCOMP).
func (c *Connector) Publish(ctx context.Context, destination string, cfg sdk.Config, payload []byte) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "mqtt connector %q is closed", c.name)
	}
	if err := checkPublishTopic(destination); err != nil {
		return sdk.Errorf(sdk.KindInvalidDestination, "mqtt connector %q: %v", c.name, err)
	}
	lo, err := parseLinkTo(cfg)
	if err != nil {
		return &sdk.Error{Kind: sdk.KindOf(err), Err: fmt.Errorf("mqtt topic %q: %w", destination, plain(err))}
	}
	if err := c.checkSize(destination, payload); err != nil {
		return err
	}
	down := c.connDown()
	if !c.rc.Connected() {
		c.stats.publishNotConnected.Add(1)
		return c.notConnected(destination)
	}
	if c.v5 != nil {
		return c.v5.publish(ctx, destination, lo, cfg, payload)
	}
	tok := c.client.Publish(destination, lo.qos, lo.retain, payload)
	var timeout <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		t := time.NewTimer(c.s.publishTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-tok.Done():
	case <-down:
		if !tokenDone(tok) {
			c.stats.publishFailed.Add(1)
			return c.lostUnder(destination)
		}
	case <-ctx.Done():
		c.stats.publishFailed.Add(1)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return sdk.Errorf(sdk.KindTimeout, "mqtt topic %q: broker %s did not acknowledge QoS %d in time: %w", destination, c.s.brokerNames(), lo.qos, ctx.Err())
		}
		return fmt.Errorf("mqtt topic %q: %w", destination, ctx.Err())
	case <-timeout:
		c.stats.publishFailed.Add(1)
		return sdk.Errorf(sdk.KindTimeout, "mqtt topic %q: broker %s did not acknowledge QoS %d within publish_timeout (%v)", destination, c.s.brokerNames(), lo.qos, c.s.publishTimeout)
	}
	if err := tok.Error(); err != nil {
		c.stats.publishFailed.Add(1)
		return sdk.Errorf(publishErrorKind(err), "mqtt topic %q: publish to broker %s: %w", destination, c.s.brokerNames(), err)
	}
	c.stats.published.Add(1)
	return nil
}

// publishErrorKind classifies an error of paho's publish token. Apart from its own
// write timeout and running out of packet ids, every such error means the
// connection failed under the message (not connected, connection lost, write error).
func publishErrorKind(err error) sdk.ErrorKind {
	switch msg := err.Error(); {
	case strings.Contains(msg, "timeout"):
		return sdk.KindTimeout
	case strings.Contains(msg, "no message IDs available"):
		return sdk.KindBufferFull
	}
	return sdk.KindConnectionFailed
}

// Health returns nil while the client is connected and every subscription was
// granted; otherwise a KindConnectionFailed error saying since when and why not.
func (c *Connector) Health(context.Context) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "mqtt connector %q is closed", c.name)
	}
	if err := c.rc.Health(); err != nil {
		return fmt.Errorf("mqtt connector %q: %w", c.name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subErr != nil {
		return sdk.Errorf(sdk.KindConnectionFailed, "mqtt connector %q: %v", c.name, c.subErr)
	}
	return nil
}

// Close publishes the offline status (when status_topic is set), disconnects, stops
// the embedded broker and waits for the background work, as far as ctx allows.
func (c *Connector) Close(ctx context.Context) error {
	if c.closed.Swap(true) {
		return nil
	}
	c.cancel()
	var err error
	select {
	case <-c.done:
	case <-ctx.Done():
		err = sdk.Errorf(sdk.KindTimeout, "mqtt connector %q: disconnect did not finish: %v", c.name, ctx.Err())
	}
	c.inbound.stop()
	if c.embedded != nil {
		c.embedded.close()
	}
	return err
}

// BrokerAddrs returns the "host:port" of the brokers the instance connects to (the
// embedded broker's real address when embedded_broker is set).
func (c *Connector) BrokerAddrs() []string { return append([]string(nil), c.s.addrs...) }

// notConnected is the error of a publish to topic while the client is down.
func (c *Connector) notConnected(topic string) error {
	err := c.rc.Health()
	if err == nil { // it came up meanwhile; the caller tries again later anyway
		err = sdk.Errorf(sdk.KindConnectionFailed, "not connected")
	}
	return fmt.Errorf("mqtt topic %q: %w", topic, err)
}
