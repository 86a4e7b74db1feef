package mqtt

import (
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// inbound hands subscribed messages to the host and acknowledges QoS 1/2 messages to
// the broker only once the host has taken (or definitely refused) them, in the order
// they arrived, as MQTT requires. At most max_inflight messages wait for the host at
// once. Further QoS 1/2 messages wait in arrival order in the connector, without
// pausing the reading: the broker's in-flight window (at most 65535 packet
// identifiers) bounds them, and the connection must keep reading the broker's
// acknowledgements of our own publishes, which a bridge's full record waits for.
// Further QoS 0 messages, which nothing bounds, pause the reading.
type inbound struct {
	c     *Connector
	slots chan struct{}

	mu      sync.Mutex
	gen     uint64     // connection generation; acks of older connections are dropped
	queue   []*pending // QoS 1/2 messages of this connection, in arrival order
	waiting []*pending // QoS 1/2 messages waiting for a slot, in arrival order

	lastRejectLog atomic.Int64 // unix nanos of the last rejection warning
	lastUnackLog  atomic.Int64 // unix nanos of the last warning about messages left unacknowledged
	lastRetryLog  atomic.Int64 // unix nanos of the last retry warning
}

// message is an inbound message of either protocol version: a paho.Message (MQTT
// 3.1.1) or a v5Message.
type message interface {
	Topic() string
	Payload() []byte
	Qos() byte
	// Ack acknowledges the message to the broker (PUBACK, PUBREC).
	Ack()
}

// pending is one inbound message on its way to the host.
type pending struct {
	msg      message
	meta     *sdk.Metadata // MQTT 5 properties, or nil
	gen      uint64
	ordered  bool // in the ack queue (QoS 1/2)
	settled  bool
	ack      bool
	attempts int
}

func (in *inbound) init(c *Connector, maxInflight int) {
	in.c = c
	in.slots = make(chan struct{}, maxInflight)
}

// onMessage is paho's handler for every inbound message; paho calls it in arrival order.
func (c *Connector) onMessage(_ paho.Client, m paho.Message) { c.inbound.accept(m, nil, nil) }

// accept hands an inbound message to the host, in arrival order, when one of
// max_inflight slots is free: a QoS 0 message waits for one, a QoS 1/2 message waits
// in the connector (never blocking the client). A message arriving while the instance
// closes, or after its connection is gone (gone closed; nil when the client says so
// itself), is dropped unacknowledged, so a persistent session gets it again.
func (in *inbound) accept(m message, meta *sdk.Metadata, gone <-chan struct{}) {
	c := in.c
	c.stats.received.Add(1)
	p := &pending{msg: m, meta: meta, ordered: m.Qos() > 0}
	if !p.ordered {
		select {
		case in.slots <- struct{}{}:
		case <-c.ctx.Done(): // closing
			in.leftUnacked(p)
			return
		case <-gone:
			in.leftUnacked(p)
			return
		}
		in.deliver(p)
		return
	}
	in.mu.Lock()
	if isClosed(gone) { // newConnection may already have run for that connection
		in.mu.Unlock()
		in.leftUnacked(p)
		return
	}
	p.gen = in.gen
	in.queue = append(in.queue, p)
	if len(in.waiting) > 0 || !in.takeSlot() {
		in.waiting = append(in.waiting, p) // never block paho: acknowledgements arrive behind it
		in.mu.Unlock()
		return
	}
	in.mu.Unlock()
	in.deliver(p)
}

// takeSlot takes a slot for the host if one is free.
func (in *inbound) takeSlot() bool {
	select {
	case in.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// next hands the oldest waiting QoS 1/2 message to the host when a slot is free.
func (in *inbound) next() {
	in.mu.Lock()
	if len(in.waiting) == 0 || in.c.ctx.Err() != nil || !in.takeSlot() {
		in.mu.Unlock()
		return
	}
	p := in.waiting[0]
	in.waiting[0] = nil
	in.waiting = in.waiting[1:]
	in.mu.Unlock()
	in.deliver(p)
}

func (in *inbound) deliver(p *pending) {
	p.attempts++
	in.c.router.DispatchWithMetadata(p.msg.Topic(), p.msg.Payload(), p.meta, func(err error) { in.settle(p, err) })
}

// settle handles the host's answer for p: acknowledge on success, on a definite
// refusal (a payload that does not decode will never decode, and an unacknowledged
// message would be redelivered forever) and on no route; retry later otherwise.
func (in *inbound) settle(p *pending, err error) {
	c := in.c
	ack := true
	switch {
	case err == nil:
		c.stats.delivered.Add(1)
	case sdk.Retryable(err):
		if c.ctx.Err() == nil {
			if n := c.stats.retries.Add(1); rateLimited(&in.lastRetryLog) {
				c.log.Warn("host could not take an inbound MQTT message; retrying", "topic", p.msg.Topic(), "error", err, "retries_total", n)
			}
			d := inboundRetry.Delay(p.attempts - 1)
			time.AfterFunc(d, func() {
				if c.ctx.Err() != nil {
					in.finish(p, false)
					return
				}
				in.deliver(p)
			})
			return
		}
		ack = false // closing: leave it unacknowledged for the broker to redeliver
	case sdk.KindOf(err) == sdk.KindNoRoute:
		c.stats.unrouted.Add(1)
		c.log.Debug("inbound MQTT message matched no route", "topic", p.msg.Topic())
	default:
		if n := c.stats.rejected.Add(1); rateLimited(&in.lastRejectLog) {
			c.log.Warn("host refused an inbound MQTT message for good (dead-lettered); acknowledged", "topic", p.msg.Topic(), "error", err, "rejected_total", n)
		}
	}
	in.finish(p, ack)
}

// finish releases p's slot and sends the acknowledgements that are now due, in order.
func (in *inbound) finish(p *pending, ack bool) {
	<-in.slots
	defer in.next()
	if !ack {
		in.leftUnacked(p) // closing
	}
	if !p.ordered {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	p.settled, p.ack = true, ack
	if p.gen != in.gen {
		if ack {
			in.leftUnacked(p)
		}
		return // its connection is gone; the broker redelivers it if the session persists
	}
	n := 0
	for n < len(in.queue) && in.queue[n].settled {
		if h := in.queue[n]; h.ack {
			h.msg.Ack()
		}
		in.queue[n] = nil
		n++
	}
	in.queue = in.queue[n:]
}

// idle reports whether no message waits for the host or for its acknowledgement.
func (in *inbound) idle() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.queue) == 0 && len(in.waiting) == 0 && len(in.slots) == 0
}

// newConnection drops the acknowledgements still owed to a lost connection.
func (in *inbound) newConnection() {
	in.mu.Lock()
	in.gen++
	in.queue = nil
	in.mu.Unlock()
}

// stop forgets pending acknowledgements and waiting messages when the instance
// closes: they stay unacknowledged, so a persistent session gets them again.
func (in *inbound) stop() {
	in.newConnection()
	in.mu.Lock()
	waiting := in.waiting
	in.waiting = nil
	in.mu.Unlock()
	for _, p := range waiting {
		in.leftUnacked(p)
	}
}

// leftUnacked counts and logs (at most every 5 s) a message left unacknowledged
// because the instance closes or its connection is gone: a persistent session gets a
// QoS 1/2 message again; a QoS 0 one is lost.
func (in *inbound) leftUnacked(p *pending) {
	if n := in.c.stats.unacknowledged.Add(1); rateLimited(&in.lastUnackLog) {
		in.c.log.Warn("inbound MQTT message left unacknowledged (instance closing or connection lost): QoS 1/2 comes again on a persistent session, QoS 0 is lost",
			"topic", p.msg.Topic(), "qos", p.msg.Qos(), "unacknowledged_total", n)
	}
}

// rateLimited reports whether a warning may be logged now: at most one every 5 s
// per kind, so a flood of bad messages does not flood the log (the counters count them all).
func rateLimited(last *atomic.Int64) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	return now-prev > int64(5*time.Second) && last.CompareAndSwap(prev, now)
}

// inboundRetry spaces the re-deliveries of an inbound message the host could not take.
var inboundRetry = sdk.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
