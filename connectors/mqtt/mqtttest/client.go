package mqtttest

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message a test client received.
type Message struct {
	Topic     string
	Payload   []byte
	QoS       byte
	Retained  bool
	Duplicate bool
}

// ClientOptions configures a test client; the zero value is an anonymous client with
// a clean session.
type ClientOptions struct {
	// ID is the client id; empty picks a unique one.
	ID string
	// Persistent asks for a persistent session (clean session off) and reconnects
	// automatically, so the broker queues QoS 1/2 messages while the client is away.
	Persistent         bool
	Username, Password string
	TLS                *tls.Config
}

// Client is a paho client that checks the connector's traffic from outside.
type Client struct {
	c    paho.Client
	msgs chan Message
	t    testing.TB
}

var clientSeq atomic.Int64

// Connect connects a test client to addr ("127.0.0.1:port") and disconnects it when the test ends.
func Connect(t testing.TB, addr string, o ClientOptions) *Client {
	t.Helper()
	cl := &Client{msgs: make(chan Message, 100000), t: t}
	opts := paho.NewClientOptions()
	scheme := "tcp://"
	if o.TLS != nil {
		scheme = "ssl://"
		opts.SetTLSConfig(o.TLS)
	}
	opts.AddBroker(scheme + addr)
	id := o.ID
	if id == "" {
		id = fmt.Sprintf("mqtttest-%d-%d", time.Now().UnixNano()%1e6, clientSeq.Add(1))
	}
	opts.SetClientID(id)
	opts.SetUsername(o.Username)
	opts.SetPassword(o.Password)
	opts.SetProtocolVersion(4)
	opts.SetCleanSession(!o.Persistent)
	opts.SetAutoReconnect(o.Persistent)
	opts.SetMaxReconnectInterval(500 * time.Millisecond)
	opts.SetConnectTimeout(5 * time.Second)
	opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		cl.msgs <- Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retained: m.Retained(), Duplicate: m.Duplicate()}
	})
	cl.c = paho.NewClient(opts)
	tok := cl.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("test client connect to %s: %v", addr, tok.Error())
	}
	t.Cleanup(func() { cl.c.Disconnect(100) })
	return cl
}

// Subscribe subscribes to filter with qos and waits for the SUBACK.
func (c *Client) Subscribe(filter string, qos byte) {
	c.t.Helper()
	tok := c.c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		c.t.Fatalf("test client subscribe %q: %v", filter, tok.Error())
	}
}

// Publish publishes and waits until the broker acknowledged (for QoS 1 and 2).
func (c *Client) Publish(topic string, qos byte, retain bool, payload []byte) {
	c.t.Helper()
	tok := c.c.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		c.t.Fatalf("test client publish %q: %v", topic, tok.Error())
	}
}

// Messages returns the channel of received messages.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Next returns the next received message, failing the test after timeout.
func (c *Client) Next(timeout time.Duration) Message {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(timeout):
		c.t.Fatalf("test client: no message within %v", timeout)
		return Message{}
	}
}

// Quiet fails the test when a message arrives within d.
func (c *Client) Quiet(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("test client: unexpected message on %q: %q", m.Topic, m.Payload)
	case <-time.After(d):
	}
}

// Paho returns the underlying client.
func (c *Client) Paho() paho.Client { return c.c }
