package mqtt

import (
	"github.com/eclipse/paho.golang/paho"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// v5Message is an inbound MQTT 5 message, acknowledged through the client of the
// connection it came on.
type v5Message struct {
	pub *paho.Publish
	cli *paho.Client
}

// Topic is the topic the message was published to.
func (m v5Message) Topic() string { return m.pub.Topic }

// Payload is the message's payload.
func (m v5Message) Payload() []byte { return m.pub.Payload }

// Qos is the QoS the message arrived with.
func (m v5Message) Qos() byte { return m.pub.QoS }

// Ack marks the message acknowledged; paho.golang sends the PUBACK or PUBREC once every
// message before it on the connection is acknowledged too.
func (m v5Message) Ack() { _ = m.cli.Ack(m.pub) }

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
