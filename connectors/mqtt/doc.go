// Package mqtt is AimDB's MQTT connector, the reference connector the others follow.
//
// A connector instance connects to one broker (or a list tried in turn) given as
// mqtt://[user:pass@]host[:1883] or mqtts://host[:8883]; it can also start an
// embedded broker for demos. Outbound links (link_to "mqtt://sensors/temp") publish
// record values with the link's QoS and retain flag and return only once the broker
// acknowledged them. Inbound links (link_from "mqtt://sensors/+/temp") subscribe with
// the link's QoS; matching messages reach the records through the SDK router and are
// acknowledged to the broker only after the host took them. The client reconnects
// with exponential backoff and jitter and re-subscribes after every reconnect.
//
// An instance speaks MQTT 3.1.1 (paho.mqtt.golang) by default, or MQTT 5 (paho.golang)
// with protocol = "5": then links also carry user properties, content type and message
// expiry, inbound properties reach the host as sdk.Metadata, link_from may join a
// shared-subscription group (share_group), and receive_maximum and session_expiry
// apply.
//
// Options are documented in Describe and in docs/mqtt.md.
package mqtt
