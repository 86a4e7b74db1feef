package mqtttest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Client5 is an MQTT 5 client (paho.golang) that checks traffic from outside with its
// properties: what the connector publishes, and messages to send it.
type Client5 struct {
	t    testing.TB
	c    *paho.Client
	msgs chan *paho.Publish
}

// Connect5 connects an MQTT 5 client with a clean session to the broker at addr and
// disconnects it when the test ends. Received messages are acknowledged at once.
func Connect5(t testing.TB, addr, clientID string) *Client5 {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("mqtttest: dial %s: %v", addr, err)
	}
	c := &Client5{t: t, msgs: make(chan *paho.Publish, 100000)}
	c.c = paho.NewClient(paho.ClientConfig{
		ClientID: clientID,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.c.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("mqtttest: MQTT 5 connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.c.Disconnect(&paho.Disconnect{}) })
	return c
}

// Subscribe subscribes to filter with qos, failing the test on error or refusal.
func (c *Client5) Subscribe(filter string, qos byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		c.t.Fatalf("mqtttest: subscribe %q: %v", filter, err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		c.t.Fatalf("mqtttest: subscribe %q refused: %v", filter, sa.Reasons)
	}
}

// Publish publishes p and waits for its acknowledgement (QoS 1, 2), failing the test
// on error.
func (c *Client5) Publish(p *paho.Publish) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.c.Publish(ctx, p); err != nil {
		c.t.Fatalf("mqtttest: publish to %q: %v", p.Topic, err)
	}
}

// Next returns the next received message, failing the test after timeout.
func (c *Client5) Next(timeout time.Duration) *paho.Publish {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(timeout):
		c.t.Fatalf("mqtttest: no MQTT 5 message within %v", timeout)
		return nil
	}
}
