package mqtt

import "github.com/aimdb-dev/aimdb-go/sdk"

var _ sdk.MetricsReporter = (*Connector)(nil)

// Metrics reports Stats as named metrics (sdk.MetricsReporter): the host exports
// them as aimdb_connector_mqtt_*{instance="..."}.
func (c *Connector) Metrics() []sdk.Metric {
	s := c.Stats()
	connected := 0.0
	if s.Connected {
		connected = 1
	}
	counter := func(name, help string, v uint64) sdk.Metric {
		return sdk.Metric{Name: name, Help: help, Kind: sdk.MetricCounter, Value: float64(v)}
	}
	return []sdk.Metric{
		{Name: "mqtt_connected", Help: "1 while the client is connected to the broker", Kind: sdk.MetricGauge, Value: connected},
		counter("mqtt_connects_total", "successful connections to the broker", s.Connects),
		counter("mqtt_connect_failures_total", "connection attempts that failed", s.ConnectFailures),
		counter("mqtt_connection_losses_total", "connections that dropped", s.ConnectionLosses),
		counter("mqtt_published_total", "publishes the broker acknowledged (as the link's QoS asks)", s.Published),
		counter("mqtt_publish_failed_total", "publishes that failed or timed out after they were handed to the client", s.PublishFailed),
		counter("mqtt_publish_not_connected_total", "publishes refused at once because the client was not connected", s.PublishNotConnected),
		counter("mqtt_received_total", "inbound messages", s.Received),
		counter("mqtt_delivered_total", "inbound messages the host took", s.Delivered),
		counter("mqtt_rejected_total", "inbound messages the host refused for good (acknowledged to the broker)", s.Rejected),
		counter("mqtt_unrouted_total", "inbound messages no route matched", s.Unrouted),
		counter("mqtt_redeliveries_total", "inbound messages delivered again after the host could not take them for the moment", s.Retries),
		counter("mqtt_takeovers_total", "lost members' sessions this instance resumed, drained and ended (takeover_topic)", s.Takeovers),
		counter("mqtt_takeover_messages_total", "inbound messages received on lost members' resumed sessions (in mqtt_received_total too)", s.TakeoverMessages),
		counter("mqtt_unacknowledged_total", "inbound messages left unacknowledged at close or connection loss (QoS 1/2 come again on a persistent session, QoS 0 are lost)", s.Unacknowledged),
	}
}
