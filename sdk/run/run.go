// Package run runs connector instances: it builds one from its builder and drives it
// (publishing, health, close), with panics turned into errors and the instance's
// goroutines stopped at Close. The plugin server (sdk/serve) and the in-process host
// both run connectors through it, so a connector behaves the same either way; a
// connector's own tests use it to run the connector without a host.
package run

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/internal/hook"
	"github.com/aimdb-dev/aimdb-go/sdk/internal/life"
)

// The SDK's hooks (sdk/internal/hook), asserted once: a signature that drifts fails
// when the package loads, not on first use.
var (
	instanceSecrets = hook.InstanceSecrets.(func(sdk.ConnectorBuilder, sdk.URL, sdk.Config, []sdk.LinkSpec) []string)
	prepare         = hook.Prepare.(func(*sdk.BuildContext, *life.Group, deliverFunc))
	newRouter       = hook.NewRouter.(func([]sdk.Route, deliverFunc) *sdk.Router)
)

// Message is one inbound message on its way from a connector to the host.
type Message struct {
	RouteID uint32
	Topic   string
	Payload []byte
	// Metadata is what the message carried beside its payload (MQTT 5 properties),
	// or nil.
	Metadata *sdk.Metadata
}

// Sink takes an instance's inbound messages for the host. Deliver must not block for
// long; it calls ack exactly once, with nil when the host has taken the value, or with
// the reason it could not (KindRejected for a payload that did not deserialize,
// KindClosed, ...). The payload stays unchanged until ack is called.
type Sink interface {
	Deliver(msg Message, ack func(error))
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(msg Message, ack func(error))

// Deliver calls f.
func (f SinkFunc) Deliver(msg Message, ack func(error)) { f(msg, ack) }

// Config says which connector instance to start and where its inbound messages go.
type Config struct {
	Name    string
	URL     sdk.URL
	Options sdk.Config
	Routes  []sdk.Route
	// Outbound lists the instance's link_to links (see sdk.BuildContext.Outbound),
	// each with its ID: PublishBatch names links by it.
	Outbound []sdk.LinkSpec
	// Sink takes inbound messages; nil refuses them with KindNoRoute.
	Sink Sink
	// Logger is the connector's logger; nil discards.
	Logger hclog.Logger
	// Host answers the connector's questions; nil answers none.
	Host sdk.Host
	// Redactor collects the instance's secrets (see sdk.BuildContext.Secrets); nil
	// makes one for the instance. The plugin server shares one among its instances,
	// so that everything the process logs is masked.
	Redactor *sdk.Redactor
}

// Instance is a running connector: the Connector a builder made, plus the goroutines
// it started. The plugin server and the in-process host both drive connectors through
// it, so a connector behaves the same either way. Its methods are safe for concurrent use.
type Instance struct {
	name  string
	conn  sdk.Connector
	red   *sdk.Redactor
	life  *life.Group
	links map[uint32]*linkOut    // link_to links by id
	dests map[string]*sync.Mutex // one unprepared publish per destination at a time

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// Start builds a connector instance with builder. A panic in Build is returned as an
// error. The instance's secrets are registered with a Redactor first, and the SDK
// masks them in the connector's log lines and in every error the instance returns.
func Start(ctx context.Context, builder sdk.ConnectorBuilder, cfg Config) (inst *Instance, err error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Options == nil {
		cfg.Options = sdk.Config{}
	}
	if cfg.Sink == nil {
		cfg.Sink = SinkFunc(func(m Message, ack func(error)) { ack(sdk.Errorf(sdk.KindNoRoute, "no sink for inbound messages")) })
	}
	if cfg.Host == nil {
		cfg.Host = noHost{}
	}
	if cfg.Redactor == nil {
		cfg.Redactor = sdk.NewRedactor()
	}
	red := cfg.Redactor
	links := append([]sdk.LinkSpec(nil), cfg.Outbound...)
	for _, r := range cfg.Routes {
		links = append(links, sdk.LinkSpec{ID: r.ID, Direction: sdk.Inbound, Resource: r.Resource, Config: r.Config, Record: r.Record})
	}
	red.Add(instanceSecrets(builder, cfg.URL, cfg.Options, links)...)
	group := life.New()
	b := &sdk.BuildContext{
		Instance: cfg.Name,
		URL:      cfg.URL,
		Options:  cfg.Options,
		Routes:   cfg.Routes,
		Outbound: cfg.Outbound,
		Logger:   sdk.RedactLogger(cfg.Logger, red),
		Host:     cfg.Host,
		Secrets:  red,
	}
	prepare(b, group, deliverTo(cfg.Sink))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connector %q: build panicked: %v\n%s", cfg.Name, r, debug.Stack())
		}
		if err != nil {
			err = red.Error(err)
			group.Stop(context.Background())
		}
	}()
	conn, err := builder.Build(ctx, b)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, fmt.Errorf("connector %q: builder %q returned no connector", cfg.Name, builder.Scheme())
	}
	inst = &Instance{name: cfg.Name, conn: conn, red: red, life: group}
	if err := inst.prepareLinks(cfg.Outbound); err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
		return nil, err
	}
	return inst, nil
}

// NewRouter returns a router over routes that hands matching messages to sink: what
// BuildContext.Router is, for testing a connector's inbound side without Start.
func NewRouter(routes []sdk.Route, sink Sink) *sdk.Router {
	return newRouter(routes, deliverTo(sink))
}

// deliverFunc is how package sdk's router hands a message to the runner.
type deliverFunc = func(route uint32, topic string, payload []byte, meta *sdk.Metadata, ack func(error))

func deliverTo(sink Sink) deliverFunc {
	return func(route uint32, topic string, payload []byte, meta *sdk.Metadata, ack func(error)) {
		sink.Deliver(Message{RouteID: route, Topic: topic, Payload: payload, Metadata: meta}, ack)
	}
}

// Name returns the instance's name.
func (i *Instance) Name() string { return i.name }

// Connector returns the connector the builder made.
func (i *Instance) Connector() sdk.Connector { return i.conn }

// Publish sends one message. It fails with ErrClosed after Close, and turns a panic
// in the connector into an error.
func (i *Instance) Publish(ctx context.Context, destination string, cfg sdk.Config, payload []byte) (err error) {
	if i.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "connector %q is closed", i.name)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connector %q: publish to %q panicked: %v", i.name, destination, r)
		}
		err = i.red.Error(err)
	}()
	return i.conn.Publish(ctx, destination, cfg, payload)
}

// Health returns nil when the instance is healthy: no background goroutine panicked,
// and the connector, if it is a HealthChecker, says it is healthy.
func (i *Instance) Health(ctx context.Context) (err error) {
	if i.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "connector %q is closed", i.name)
	}
	if p := i.life.Panicked(); p != "" {
		return fmt.Errorf("connector %q: %s", i.name, p)
	}
	hc, ok := i.conn.(sdk.HealthChecker)
	if !ok {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connector %q: health check panicked: %v", i.name, r)
		}
		err = i.red.Error(err)
	}()
	return hc.Health(ctx)
}

// Close closes the connector, then cancels and waits for its goroutines, as far as ctx
// allows. Calling it again returns the first result.
func (i *Instance) Close(ctx context.Context) error {
	i.closeOnce.Do(func() {
		i.closed.Store(true)
		func() {
			defer func() {
				if r := recover(); r != nil {
					i.closeErr = fmt.Errorf("connector %q: close panicked: %v", i.name, r)
				}
			}()
			i.closeErr = i.conn.Close(ctx)
		}()
		if err := i.life.Stop(ctx); err != nil && i.closeErr == nil {
			i.closeErr = fmt.Errorf("connector %q: %w", i.name,
				sdk.Errorf(sdk.KindTimeout, "background goroutines did not stop: %v", err))
		}
		i.closeErr = i.red.Error(i.closeErr)
	})
	return i.closeErr
}

type noHost struct{}

func (noHost) Latest(context.Context, string) ([]byte, error) {
	return nil, sdk.Errorf(sdk.KindRejected, "this host does not serve latest values")
}

// InstanceURL parses a connector instance's URL strictly (sdk.ParseConnectorURL), as
// the plugin server does; an empty one gives a URL with only the scheme. A bad URL is
// an invalid-config error at the option "url".
func InstanceURL(scheme, raw string) (sdk.URL, error) {
	if raw == "" {
		return sdk.URL{Scheme: scheme}, nil
	}
	u, err := sdk.ParseConnectorURL(raw)
	if err != nil {
		return sdk.URL{}, &sdk.Error{Kind: sdk.KindInvalidConfig, Err: &sdk.OptionError{Option: "url", Err: err}}
	}
	return u, nil
}
