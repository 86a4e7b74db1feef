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

// Stall is implemented by peers that can stop reading what connectors send while
// staying connected, for publish/deadline: StopReading leaves every connection open
// and unread, so what a connector writes fills the buffers between them (a TCP
// socket's, a broker's window); ResumeReading reads again.
type Stall interface {
	StopReading(ctx context.Context) error
	ResumeReading(ctx context.Context) error
}

// ConnectCounter is implemented by peers that count the connections connectors open
// to the outside system, those refused or closed at once while it is stopped
// included, for the reconnect checks (outage/backoff, outage/reconnects).
type ConnectCounter interface {
	// Connects returns how many connections the outside system was offered so far.
	Connects() int64
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

// Optional peer features, as a peer program announces them.
const (
	featureOutage   = "outage"
	featureStall    = "stall"
	featureConnects = "connects"
)

// featured is a peer whose optional features are known only at run time (a peer
// program): it has every feature's methods, and features says which ones work.
type featured interface {
	features() map[string]bool
}

// offers reports whether p offers feature: it implements the feature's interface
// and, for a peer program, announced it.
func offers(p Peer, feature string) bool {
	if f, ok := p.(featured); ok {
		return f.features()[feature]
	}
	switch feature {
	case featureOutage:
		_, ok := p.(Outage)
		return ok
	case featureStall:
		_, ok := p.(Stall)
		return ok
	case featureConnects:
		_, ok := p.(ConnectCounter)
		return ok
	}
	return false
}
