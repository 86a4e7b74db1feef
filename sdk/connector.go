package sdk

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk/internal/life"
)

// ConnectorBuilder makes connector instances of one kind. Scheme names the kind
// ("mqtt"); it is also the default scheme of links that use the kind's default
// instance. A builder is stateless: Build may be called many times, concurrently,
// once for every instance.
type ConnectorBuilder interface {
	Scheme() string
	Build(ctx context.Context, b *BuildContext) (Connector, error)
}

// Connector is one built connector instance, connected (or connecting) to its outside
// system. Publish may be called concurrently; calls for one destination come in order,
// one at a time.
type Connector interface {
	// Publish sends payload to destination (the link's resource: topic, group address,
	// path). cfg holds the link's options. It returns once the outside system has taken
	// the message as far as the link's options ask (for example the MQTT PUBACK for
	// QoS 1). Errors should be classified with Errorf or Wrap.
	Publish(ctx context.Context, destination string, cfg Config, payload []byte) error
	// Close disconnects and releases everything. The SDK calls it once.
	Close(ctx context.Context) error
}

// LinkPreparer is implemented by connectors that prepare each link_to once, before its
// first value: options parsed, destination checked, and a publisher that may keep many
// messages in flight. The SDK calls PrepareLink for every link_to right after Build;
// an error fails the build. Links of a connector without it are published through
// Connector.Publish, one message at a time per destination.
type LinkPreparer interface {
	PrepareLink(link LinkSpec) (LinkPublisher, error)
}

// LinkPublisher publishes the values of one prepared link_to.
type LinkPublisher interface {
	// PublishBatch publishes payloads, in order, to the link's destination and sets
	// errs[i] to the outcome of payloads[i] (nil: published as far as the link's
	// options ask, e.g. acknowledged for MQTT QoS 1); len(errs) == len(payloads). It
	// returns once every message has its outcome, and may pipeline them meanwhile.
	// Calls for one link come one at a time, in order; different links may run
	// concurrently. Classify errors with Errorf or Wrap: after a retryable one the
	// host sends that message and every later one of the link again, so a connector
	// must not reorder a link's messages.
	PublishBatch(ctx context.Context, payloads [][]byte, errs []error)
}

// HealthChecker is implemented by connectors that can tell whether they are connected.
// Health returns nil when healthy, or an error saying what is wrong.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Describer is implemented by builders that describe themselves: version, options and
// capabilities. The host shows it in `aimdb plugins list` and checks options against
// it: an option a kind that documents options does not document for its scope is a
// configuration error (with the closest documented one suggested), reported before
// the kind's own ConfigValidator runs, which never sees it.
type Describer interface {
	Describe() Description
}

// ConfigValidator is implemented by builders that can check a connector's URL and
// options, and its links, without connecting anywhere (`aimdb check`). It returns
// every mistake it finds, joined (errors.Join), each tied to its option and link with
// OptionError (the Config getters, OptionErrorf, AtOption and ForLink make them), so
// the host prints each at its own file:line:col.
type ConfigValidator interface {
	ValidateConfig(url URL, options Config, links []LinkSpec) error
}

// LinkSpec is one link as a validator or PrepareLink sees it.
type LinkSpec struct {
	// ID identifies the link within its connector instance; the host assigns it, and
	// findings about the link (ForLink) carry it back.
	ID        uint32
	Direction Direction
	Resource  string
	Config    Config
	Record    string
}

// Direction says which way a link carries values.
type Direction uint8

// Link directions.
const (
	Outbound Direction = iota + 1 // record -> outside system (link_to)
	Inbound                       // outside system -> record (link_from)
)

// String returns "link_to" or "link_from".
func (d Direction) String() string {
	switch d {
	case Outbound:
		return "link_to"
	case Inbound:
		return "link_from"
	}
	return "link"
}

// Description is what a connector kind says about itself.
type Description struct {
	// Version of the connector, e.g. "0.1.0".
	Version string
	// Capabilities lists what the connector supports: the Cap... constants.
	Capabilities []string
	// Options documents every option the connector takes.
	Options []OptionDoc
	// MaxPayload is the largest payload Publish takes, in bytes; 0 means the boundary's limit.
	MaxPayload int
}

// Capabilities a connector may declare.
const (
	CapOutbound  = "outbound"   // implements Publish
	CapInbound   = "inbound"    // delivers inbound messages through the router
	CapWildcards = "wildcards"  // inbound patterns with "+" and "#"
	CapAckCommit = "ack-commit" // commits upstream only after the host acknowledged
	CapHealth    = "health"     // implements HealthChecker
	CapLatest    = "latest"     // asks the host for records' latest values
)

// OptionDoc documents one option.
type OptionDoc struct {
	Name string
	// Scope is where the option goes: ScopeConnector, ScopeLinkTo or ScopeLinkFrom.
	Scope string
	// Doc is a one-line description.
	Doc string
	// Default is the value used when the option is unset, as text.
	Default string
	// Secret options are never printed.
	Secret bool
}

// OptionNames lists the names of the options of docs in scope (ScopeConnector,
// ScopeLinkTo, ScopeLinkFrom), in their order: what Config.Unknown takes.
func OptionNames(docs []OptionDoc, scope string) []string {
	var out []string
	for _, d := range docs {
		if d.Scope == scope {
			out = append(out, d.Name)
		}
	}
	return out
}

// Option scopes.
const (
	ScopeConnector = "connector"
	ScopeLinkTo    = "link_to"
	ScopeLinkFrom  = "link_from"
)

// Host answers a connector's questions about the records behind its links. It is for
// control, not data: values reach a connector through Publish.
type Host interface {
	// Latest returns the newest value of the record linked to resource on this
	// instance, encoded with that link's codec. It fails with KindNoRoute when no link
	// names resource. Which links may be read from outside is the connector's choice
	// (for example the HTTP connector's allow_get link option).
	Latest(ctx context.Context, resource string) ([]byte, error)
}

// BuildContext is everything a builder needs to make one connector instance.
type BuildContext struct {
	// Instance is the connector instance's name ("mqtt", "plant-b").
	Instance string
	// URL is the connector's own URL (broker address, gateway, base URL).
	URL URL
	// Options holds the connector block's options.
	Options Config
	// Routes are the inbound links the host declared for this instance.
	Routes []Route
	// Outbound are the instance's link_to links, known before their first value:
	// a connector that answers reads for them (KNX respond, HTTP GET) or prepares
	// their destinations can do so from the start. Values still come through Publish.
	Outbound []LinkSpec
	// Router dispatches inbound messages on Routes to the host.
	Router *Router
	// Logger writes to the host's log, tagged with the plugin and instance.
	Logger hclog.Logger
	// Host answers questions about records; never nil.
	Host Host
	// Secrets masks the instance's secrets. The SDK registered the URL's password,
	// the values of the options Describe marks Secret and of the environment
	// variables "_env" options name, and masks them in Logger's lines and in every
	// error the instance returns. Add any other credential the connector derives
	// (a token it fetched), and pass text from outside (a reply body) through
	// Secrets.String before quoting it, and before cutting it to a length.
	Secrets *Redactor

	life *life.Group
}

// Go runs f in a goroutine tied to the instance: f's context is cancelled when the
// instance closes (or its build fails), and Close waits for f to return. A panic in f
// is recovered, logged and makes the instance unhealthy.
func (b *BuildContext) Go(name string, f func(ctx context.Context)) {
	b.life.Go(name, b.Logger, f)
}

// Context is cancelled when the instance closes.
func (b *BuildContext) Context() context.Context { return b.life.Context() }
