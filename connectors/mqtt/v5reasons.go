package mqtt

import (
	"fmt"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// reasonNames are the MQTT 5 reason codes a client meets, by their spec names.
var reasonNames = map[byte]string{
	0x00: "success", 0x01: "granted QoS 1", 0x02: "granted QoS 2", 0x04: "disconnect with will message",
	0x10: "no matching subscribers", 0x80: "unspecified error", 0x81: "malformed packet",
	0x82: "protocol error", 0x83: "implementation specific error", 0x84: "unsupported protocol version",
	0x85: "client identifier not valid", 0x86: "bad user name or password", 0x87: "not authorized",
	0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned", 0x8B: "server shutting down",
	0x8C: "bad authentication method", 0x8D: "keep alive timeout", 0x8E: "session taken over",
	0x8F: "topic filter invalid", 0x90: "topic name invalid", 0x91: "packet identifier in use",
	0x92: "packet identifier not found", 0x93: "receive maximum exceeded", 0x94: "topic alias invalid",
	0x95: "packet too large", 0x96: "message rate too high", 0x97: "quota exceeded",
	0x98: "administrative action", 0x99: "payload format invalid", 0x9A: "retain not supported",
	0x9B: "QoS not supported", 0x9C: "use another server", 0x9D: "server moved",
	0x9E: "shared subscriptions not supported", 0x9F: "connection rate exceeded",
	0xA0: "maximum connect time", 0xA1: "subscription identifiers not supported",
	0xA2: "wildcard subscriptions not supported",
}

// reasonText names a reason code, with the broker's reason string when it sent one:
// `not authorized (0x87): "denied by ACL"`.
func reasonText(code byte, reason string) string {
	name, ok := reasonNames[code]
	if !ok {
		name = "reason code"
	}
	s := fmt.Sprintf("%s (0x%02X)", name, code)
	if reason != "" {
		s += fmt.Sprintf(": %q", reason)
	}
	return s
}

// publishKind classifies a failure reason code of PUBACK or PUBREC: what the host does
// with the value (docs/delivery.md). A refusal that will not change by itself (not
// authorized, invalid topic, too large, a feature the broker lacks) is permanent, so
// the value is dead-lettered; a full quota is "buffer full", retried later; anything
// else is retried as an unclassified error.
func publishKind(code byte) sdk.ErrorKind {
	switch code {
	case 0x97: // quota exceeded
		return sdk.KindBufferFull
	case 0x87, 0x90: // not authorized, topic name invalid
		return sdk.KindInvalidDestination
	case 0x95: // packet too large
		return sdk.KindMessageTooLarge
	case 0x99: // payload format invalid
		return sdk.KindRejected
	case 0x9A: // retain not supported
		return sdk.KindInvalidConfig
	case 0x9B: // QoS not supported
		return sdk.KindUnsupportedQoS
	}
	return sdk.KindUnknown
}

// connectHint says what to check after the broker refused a connection with code.
func connectHint(code byte) string {
	switch code {
	case 0x84:
		return " (the broker does not speak MQTT 5: set protocol = \"3.1.1\")"
	case 0x86, 0x87:
		return " (check username and password)"
	case 0x85:
		return " (check client_id)"
	}
	return ""
}
