package mqtt

import (
	"errors"

	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// v5Message is an inbound MQTT 5 message, acknowledged through the client of the
// connection it came on, or its session state.
type v5Message struct {
	pub   *paho.Publish
	cli   *paho.Client
	state *state.State
}

// Topic is the topic the message was published to.
func (m v5Message) Topic() string { return m.pub.Topic }

// Payload is the message's payload.
func (m v5Message) Payload() []byte { return m.pub.Payload }

// Qos is the QoS the message arrived with.
func (m v5Message) Qos() byte { return m.pub.QoS }

// Ack marks the message acknowledged; paho.golang sends the PUBACK or PUBREC once every
// message before it on the connection is acknowledged too. paho.golang (v0.23) clears
// the list of messages to acknowledge after it has started reading, so it forgets
// those the broker sends right after CONNACK (a resumed session's unacknowledged
// ones); left unacknowledged, they would hold the broker's in-flight window, and what
// it queued behind them, for as long as the connection lasts. Those are the first of
// the connection, handed on only once Connect returned (connectTo), and the instance
// acknowledges in arrival order: the session state sends their acknowledgement at once.
func (m v5Message) Ack() {
	if err := m.cli.Ack(m.pub); errors.Is(err, paho.ErrPacketNotFound) {
		_ = m.state.Ack(m.pub.Packet())
	}
}

// metadataOf returns the properties of an inbound message the host may want: user
// properties, content type, response topic and correlation data; nil when it has none.
func metadataOf(p *paho.Publish) *sdk.Metadata {
	pp := p.Properties
	if pp == nil || len(pp.User) == 0 && pp.ContentType == "" && pp.ResponseTopic == "" && len(pp.CorrelationData) == 0 {
		return nil
	}
	m := &sdk.Metadata{ContentType: pp.ContentType, ResponseTopic: pp.ResponseTopic, CorrelationData: pp.CorrelationData}
	if len(pp.User) > 0 {
		m.Properties = make([]sdk.Property, len(pp.User))
		for i, u := range pp.User {
			m.Properties[i] = sdk.Property{Name: u.Key, Value: u.Value}
		}
	}
	return m
}
