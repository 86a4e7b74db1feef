package benchbridge

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// probeBase is the first sequence number of readiness probes and warm-up messages:
// the subscriber counts them apart, never in a run's Counter.
const probeBase = 1 << 62

// connect opens a paho client to the broker on 127.0.0.1:port.
func connect(port int, clientID string, onMsg paho.MessageHandler) (paho.Client, error) {
	opts := paho.NewClientOptions().
		AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", port)).
		SetClientID(clientID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(5 * time.Second).
		SetOrderMatters(true).
		SetCustomOpenConnectionFn(bufferedDial)
	if onMsg != nil {
		opts.SetDefaultPublishHandler(onMsg)
	}
	c := paho.NewClient(opts)
	t := c.Connect()
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("mqtt client %s: connect to 127.0.0.1:%d: %v", clientID, port, tokenErr(t))
	}
	return c, nil
}

// bufferedDial connects over TCP and buffers reads: paho reads packet headers a byte
// at a time, which would cost the subscriber a system call per byte.
func bufferedDial(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", uri.Host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &readBuffered{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

type readBuffered struct {
	net.Conn
	r *bufio.Reader
}

func (c *readBuffered) Read(p []byte) (int, error) { return c.r.Read(p) }

func tokenErr(t paho.Token) error {
	if err := t.Error(); err != nil {
		return err
	}
	return errors.New("timed out")
}

// subscriber counts what arrives on one topic: payloads with a sequence number below
// probeBase go to the current Counter, probes are only counted.
type subscriber struct {
	client  paho.Client
	counter atomic.Pointer[seqload.Counter]
	probes  atomic.Uint64
	foreign atomic.Uint64 // payloads that did not decode
}

// subscribe connects a subscriber to topic at qos and waits for the SUBACK.
func subscribe(port int, topic string, qos byte) (*subscriber, error) {
	s := &subscriber{}
	c, err := connect(port, "bench-sub", nil)
	if err != nil {
		return nil, err
	}
	t := c.Subscribe(topic, qos, s.onMessage)
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("subscribe to %s at QoS %d: %v", topic, qos, tokenErr(t))
	}
	s.client = c
	return s, nil
}

func (s *subscriber) onMessage(_ paho.Client, m paho.Message) {
	now := time.Now()
	seq, sent, err := seqload.Decode(m.Payload())
	switch {
	case err != nil:
		s.foreign.Add(1)
	case seq >= probeBase:
		s.probes.Add(1)
	default:
		if c := s.counter.Load(); c != nil {
			c.ObserveSeq(seq, sent, now)
		}
	}
}

func (s *subscriber) close() { s.client.Disconnect(100) }

// publisher publishes to one topic keeping up to window publishes in flight (paho
// tokens not yet complete), so QoS 1 is pipelined and QoS 0 memory stays bounded.
type publisher struct {
	client  paho.Client
	topic   string
	qos     byte
	pending []paho.Token // a FIFO of in-flight tokens
	window  int
}

func newPublisher(port int, topic string, qos byte, window int) (*publisher, error) {
	c, err := connect(port, "bench-pub", nil)
	if err != nil {
		return nil, err
	}
	return &publisher{client: c, topic: topic, qos: qos, window: max(window, 1)}, nil
}

// publish hands one payload to paho, first waiting for the oldest in-flight publish
// when the window is full.
func (p *publisher) publish(_ uint64, payload []byte) error {
	if len(p.pending) >= p.window {
		if err := p.waitOldest(); err != nil {
			return err
		}
	}
	p.pending = append(p.pending, p.client.Publish(p.topic, p.qos, false, payload))
	return nil
}

func (p *publisher) waitOldest() error {
	t := p.pending[0]
	p.pending[0] = nil
	p.pending = p.pending[1:]
	if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
		return fmt.Errorf("publish to %s at QoS %d: %v", p.topic, p.qos, tokenErr(t))
	}
	return nil
}

// flush waits for every in-flight publish.
func (p *publisher) flush() error {
	for len(p.pending) > 0 {
		if err := p.waitOldest(); err != nil {
			return err
		}
	}
	return nil
}

func (p *publisher) close() { p.client.Disconnect(100) }
