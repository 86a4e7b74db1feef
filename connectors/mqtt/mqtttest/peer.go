package mqtttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// Peer is a mosquitto broker as the conformance kit sees it: it observes what a
// connector publishes, injects messages for it, and stops and starts the broker for
// the outage checks. It implements conformance.Peer and conformance.Outage.
type Peer struct {
	// Broker is the mosquitto the peer drives.
	Broker *Mosquitto

	client    paho.Client
	mu        sync.Mutex
	observers map[string][]chan []byte
}

var (
	_ conformance.Peer   = (*Peer)(nil)
	_ conformance.Outage = (*Peer)(nil)
)

// NewPeer starts a mosquitto with opts and connects the peer's own client to it.
func NewPeer(t testing.TB, opts Options) *Peer {
	t.Helper()
	p := &Peer{Broker: StartMosquitto(t, opts), observers: map[string][]chan []byte{}}
	o := paho.NewClientOptions()
	o.AddBroker("tcp://" + p.Broker.Addr)
	o.SetClientID(fmt.Sprintf("mqtttest-peer-%d", clientSeq.Add(1)))
	o.SetProtocolVersion(4)
	o.SetAutoReconnect(true)
	o.SetMaxReconnectInterval(250 * time.Millisecond)
	o.SetConnectTimeout(5 * time.Second)
	o.SetOnConnectHandler(func(c paho.Client) { p.resubscribe() })
	o.SetDefaultPublishHandler(p.fanOut)
	p.client = paho.NewClient(o)
	if tok := p.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("peer client: connect to %s: %v", p.Broker.Addr, tok.Error())
	}
	t.Cleanup(func() { p.client.Disconnect(100) })
	return p
}

// URL is the connector URL of the peer's broker.
func (p *Peer) URL() string { return p.Broker.URL(false) }

// Resources names the topics the conformance checks use.
func (p *Peer) Resources() conformance.Resources {
	return conformance.Resources{
		Names:         []string{"conformance/a", "conformance/b", "conformance/c"},
		Wildcard:      "conformance/w/+",
		WildcardMatch: "conformance/w/x",
		WildcardMiss:  "conformance/v/x",
	}
}

// Observe subscribes to resource (QoS 1) and returns what is published there until
// ctx ends. It returns once the broker granted the subscription.
func (p *Peer) Observe(ctx context.Context, resource string) (<-chan []byte, error) {
	if err := p.waitConnected(ctx); err != nil {
		return nil, err
	}
	ch := make(chan []byte, 1024)
	p.mu.Lock()
	first := len(p.observers[resource]) == 0
	p.observers[resource] = append(p.observers[resource], ch)
	p.mu.Unlock()
	if first {
		if err := wait(ctx, p.client.Subscribe(resource, 1, nil)); err != nil {
			p.remove(resource, ch)
			return nil, fmt.Errorf("peer: subscribe %q: %w", resource, err)
		}
	}
	go func() {
		<-ctx.Done()
		p.remove(resource, ch)
	}()
	return ch, nil
}

// Inject publishes payload on topic with QoS 1 and waits for the broker's PUBACK.
func (p *Peer) Inject(ctx context.Context, topic string, payload []byte) error {
	if err := p.waitConnected(ctx); err != nil {
		return err
	}
	return wait(ctx, p.client.Publish(topic, 1, false, payload))
}

// Stop stops the broker.
func (p *Peer) Stop(context.Context) error {
	p.Broker.Stop()
	return nil
}

// Start starts the broker again on the same port and waits for the peer's client.
func (p *Peer) Start(ctx context.Context) error {
	p.Broker.Start()
	return p.waitConnected(ctx)
}

func (p *Peer) fanOut(_ paho.Client, m paho.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range p.observers[m.Topic()] {
		select {
		case ch <- m.Payload():
		default: // a slow observer loses messages rather than stalling the peer
		}
	}
}

func (p *Peer) resubscribe() {
	p.mu.Lock()
	filters := map[string]byte{}
	for topic, list := range p.observers {
		if len(list) > 0 {
			filters[topic] = 1
		}
	}
	p.mu.Unlock()
	if len(filters) > 0 {
		p.client.SubscribeMultiple(filters, nil).WaitTimeout(5 * time.Second)
	}
}

func (p *Peer) remove(resource string, ch chan []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.observers[resource]
	for i, c := range list {
		if c == ch {
			p.observers[resource] = append(list[:i], list[i+1:]...)
			break
		}
	}
}

func (p *Peer) waitConnected(ctx context.Context) error {
	for !p.client.IsConnectionOpen() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("peer: not connected to %s: %w", p.Broker.Addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
