// Package loopback is a test-only connector: what is published to destination X comes
// back as an inbound message on topic X. Options make it misbehave on purpose, so
// tests can drive the plugin boundary through failures.
package loopback

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Scheme is the loopback connector's scheme.
const Scheme = "loopback"

// Builder builds loopback connectors.
type Builder struct{ scheme string }

// NewBuilder returns a builder for scheme "loopback".
func NewBuilder() *Builder { return &Builder{scheme: Scheme} }

// NewBuilderFor returns a builder serving another scheme, for tests with two kinds.
func NewBuilderFor(scheme string) *Builder { return &Builder{scheme: scheme} }

// Scheme returns the builder's scheme.
func (b *Builder) Scheme() string { return b.scheme }

var optionDocs = []sdk.OptionDoc{
	{Name: "inject", Scope: sdk.ScopeConnector, Doc: "what a publish does: async (re-inject, do not wait), sync (re-inject, wait for the host's ack), none", Default: "async"},
	{Name: "fail_destination", Scope: sdk.ScopeConnector, Doc: "publishes to this destination fail with invalid destination"},
	{Name: "down_while", Scope: sdk.ScopeConnector, Doc: "path of a file: while it exists, publishes fail with connection failed (an outage the test switches on and off)"},
	{Name: "build_error", Scope: sdk.ScopeConnector, Doc: "make Build fail with this message"},
	{Name: "unhealthy", Scope: sdk.ScopeConnector, Doc: "make Health fail with this message"},
	{Name: "generate", Scope: sdk.ScopeConnector, Doc: "topic:count:size[:window]: emit count inbound messages of size bytes on topic after Build, at most window unacknowledged (default: as many as the boundary keeps in flight)"},
	{Name: "property", Scope: sdk.ScopeLinkTo, Doc: "name=value: the re-injected message carries this metadata property, and its destination as response topic"},
}

// Describe documents the options.
func (b *Builder) Describe() sdk.Description {
	return sdk.Description{
		Version:      "0.0.1",
		Capabilities: []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards, sdk.CapAckCommit, sdk.CapHealth, sdk.CapLatest},
		Options:      optionDocs,
	}
}

// ValidateConfig refuses unknown options.
func (b *Builder) ValidateConfig(_ sdk.URL, options sdk.Config, _ []sdk.LinkSpec) error {
	names := make([]string, len(optionDocs))
	for i, o := range optionDocs {
		names[i] = o.Name
	}
	if err := options.Unknown(names...); err != nil {
		return err
	}
	_, err := options.OneOf("inject", "async", "async", "sync", "none")
	return err
}

// Build makes a connector.
func (b *Builder) Build(_ context.Context, bc *sdk.BuildContext) (sdk.Connector, error) {
	if msg := bc.Options.String("build_error", ""); msg != "" {
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "%s", msg)
	}
	mode, err := bc.Options.OneOf("inject", "async", "async", "sync", "none")
	if err != nil {
		return nil, err
	}
	bc.Logger.Info("loopback built", "routes", len(bc.Routes))
	c := &conn{router: bc.Router, host: bc.Host, mode: mode, downWhile: bc.Options.String("down_while", ""),
		failDest: bc.Options.String("fail_destination", ""), unhealthy: bc.Options.String("unhealthy", "")}
	if g := bc.Options.String("generate", ""); g != "" {
		topic, count, size, window, err := parseGenerate(g)
		if err != nil {
			return nil, err
		}
		bc.Go("generate", func(ctx context.Context) { c.generate(ctx, topic, count, size, window) })
	}
	return c, nil
}

func parseGenerate(s string) (topic string, count, size, window int, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 && len(parts) != 4 {
		return "", 0, 0, 0, sdk.Errorf(sdk.KindInvalidConfig, "option \"generate\": want topic:count:size[:window], got %q", s)
	}
	count, err1 := strconv.Atoi(parts[1])
	size, err2 := strconv.Atoi(parts[2])
	window, err3 := pluginwire.MaxInboundInFlight*pluginwire.MaxBatchMessages, error(nil)
	if len(parts) == 4 {
		window, err3 = strconv.Atoi(parts[3])
	}
	if err1 != nil || err2 != nil || err3 != nil || count < 0 || size < 0 || window < 1 {
		return "", 0, 0, 0, sdk.Errorf(sdk.KindInvalidConfig, "option \"generate\": bad count, size or window in %q", s)
	}
	return parts[0], count, size, window, nil
}

type conn struct {
	router    *sdk.Router
	host      sdk.Host
	mode      string
	failDest  string
	downWhile string
	unhealthy string
	published atomic.Int64
}

// down reports whether the outage switch file exists.
func (c *conn) down() bool {
	if c.downWhile == "" {
		return false
	}
	_, err := os.Stat(c.downWhile)
	return err == nil
}

// Publish re-injects payload on topic destination, with metadata when the link has
// the option "property". Destination "latest/R" instead asks the host for the latest
// value of resource R and injects that on "latest/R".
func (c *conn) Publish(ctx context.Context, dest string, cfg sdk.Config, payload []byte) error {
	if dest == c.failDest {
		return sdk.Errorf(sdk.KindInvalidDestination, "destination %q refused by option fail_destination", dest)
	}
	if c.down() {
		return sdk.Errorf(sdk.KindConnectionFailed, "outage: %s exists", c.downWhile)
	}
	c.published.Add(1)
	if r, ok := strings.CutPrefix(dest, "latest/"); ok {
		v, err := c.host.Latest(ctx, r)
		if err != nil {
			return err
		}
		payload = v
	}
	var meta *sdk.Metadata
	if name, value, ok := strings.Cut(cfg.String("property", ""), "="); ok {
		meta = &sdk.Metadata{Properties: []sdk.Property{{Name: name, Value: value}}, ResponseTopic: dest}
	}
	switch c.mode {
	case "none":
		return nil
	case "sync":
		done := make(chan error, 1)
		c.router.DispatchWithMetadata(dest, append([]byte(nil), payload...), meta, func(err error) { done <- err })
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return sdk.Wrap(sdk.KindTimeout, ctx.Err())
		}
	}
	c.router.DispatchWithMetadata(dest, append([]byte(nil), payload...), meta, nil)
	return nil
}

// generate emits count messages, keeping up to window of them unacknowledged (by
// default as many as the boundary keeps in flight, like the bare baseline, so the
// generator's window does not bound the benchmark; a small window makes small
// batches). One shared ack function and an atomic counter keep the generator's own
// cost per message small, so benchmarks measure the boundary.
func (c *conn) generate(ctx context.Context, topic string, count, size, window int) {
	var outstanding atomic.Int64
	wake := make(chan struct{}, 1)
	low := int64(window / 2)
	ack := func(error) {
		if outstanding.Add(-1) <= low {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
	payload := make([]byte, size)
	for i := 0; i < count; i++ {
		for outstanding.Load() >= int64(window) {
			select {
			case <-wake:
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
		outstanding.Add(1)
		c.router.Dispatch(topic, payload, ack)
	}
}

// Health fails when the option unhealthy is set.
func (c *conn) Health(context.Context) error {
	if c.down() {
		return sdk.Errorf(sdk.KindConnectionFailed, "outage: %s exists", c.downWhile)
	}
	if c.unhealthy != "" {
		return sdk.Errorf(sdk.KindConnectionFailed, "%s", c.unhealthy)
	}
	return nil
}

// Close does nothing: there is no outside system.
func (c *conn) Close(context.Context) error { return nil }
