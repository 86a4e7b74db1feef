package conformance

import "context"

// Peer is the outside system a connector talks to, as the kit sees it: it observes
// what the connector published and injects messages for the connector to receive.
// A plugin author writes one per connector kind; the bundled connectors' peers live
// beside their tests.
type Peer interface {
	// Resources names the destinations and topics the checks may use.
	Resources() Resources
	// Observe starts recording what is published to resource and returns the payloads,
	// in order, until ctx ends. It returns once recording has begun, so a publish made
	// after it returns is seen.
	Observe(ctx context.Context, resource string) (<-chan []byte, error)
	// Inject sends payload on topic as the outside system would, for the connector
	// to receive. An error means the outside system was told the message was not taken.
	Inject(ctx context.Context, topic string, payload []byte) error
}

// Outage is implemented by peers that can stop and start the outside system, for the
// outage checks. Start brings it back at the same address, as it was.
type Outage interface {
	Stop(ctx context.Context) error
	Start(ctx context.Context) error
}

// Resources are the names the checks publish to and subscribe to. They must be
// distinct, and each must work both as a link_to destination and as a link_from
// topic of the connector under test.
type Resources struct {
	// Names holds at least three resources (more are ignored).
	Names []string
	// Wildcard is a link_from pattern with "+" or "#"; WildcardMatch is a topic it
	// matches and WildcardMiss one it does not. Empty skips the wildcard check.
	Wildcard, WildcardMatch, WildcardMiss string
}
