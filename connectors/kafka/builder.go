// Package kafka is the AimDB connector for Apache Kafka, built on franz-go (pure Go).
//
// link_to "kafka://TOPIC" produces each value as one record; Publish returns once
// Kafka acknowledged it as the acks option asks. link_from "kafka://TOPIC" consumes
// through a consumer group and commits an offset only after the host took the value
// (at least once). See docs/kafka.md for the options.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Version is the connector's version, reported by Describe.
const Version = "0.1.0"

// Builder makes Kafka connector instances; it implements sdk.Describer and
// sdk.ConfigValidator besides sdk.ConnectorBuilder.
type Builder struct{}

// NewBuilder returns the Kafka connector builder (scheme "kafka").
func NewBuilder() sdk.ConnectorBuilder { return Builder{} }

// Scheme returns "kafka".
func (Builder) Scheme() string { return "kafka" }

// Build makes one connector instance. It does not wait for the brokers: franz-go
// connects lazily and retries with backoff, so an unreachable cluster shows in Health
// and in Publish errors, not here. Bad options and links fail Build.
func (Builder) Build(ctx context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	cs, err := parseConn(b.Instance, b.URL, b.Options)
	if err != nil {
		return nil, fmt.Errorf("kafka connector %q: %w", b.Instance, err)
	}
	groups, err := groupRoutes(b.Instance, b.Options, b.Routes)
	if err != nil {
		return nil, fmt.Errorf("kafka connector %q: %w", b.Instance, err)
	}
	tlsCfg, err := cs.tls.config()
	if err != nil {
		return nil, fmt.Errorf("kafka connector %q: %w", b.Instance, err)
	}
	runCtx, cancel := context.WithCancel(b.Context())
	c := &Connector{
		name:      b.Instance,
		log:       b.Logger,
		settings:  cs,
		options:   b.Options,
		producers: map[producerSettings]*kgo.Client{},
		cancel:    cancel,
	}
	c.common = []kgo.Opt{
		kgo.SeedBrokers(cs.addrs...),
		kgo.ClientID(cs.clientID),
		kgo.DialTimeout(cs.dialTimeout),
		kgo.RetryBackoffFn(retryBackoff),
		kgo.MetadataMinAge(250 * time.Millisecond), // re-learn leaders soon after a broker returns
		kgo.WithHooks(&c.dial),
		kgo.WithLogger(kgoLogger{b.Logger}),
	}
	if tlsCfg != nil {
		c.common = append(c.common, kgo.DialTLSConfig(tlsCfg))
	}
	if m := cs.sasl.mechanismOf(); m != nil {
		c.common = append(c.common, kgo.SASL(m))
	}
	if cs.autoCreate {
		c.common = append(c.common, kgo.AllowAutoTopicCreation())
	}
	ok := false
	defer func() {
		if !ok {
			cancel()
			for _, g := range c.consumers {
				g.cl.Close()
			}
			c.closeClients()
		}
	}()
	if _, err := c.producer(cs.producer); err != nil {
		return nil, fmt.Errorf("kafka connector %q: %w", b.Instance, err)
	}
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		g, err := newGroupConsumer(c, groups[name], b.Router)
		if err != nil {
			return nil, fmt.Errorf("kafka connector %q: consumer group %q: %w", b.Instance, name, err)
		}
		c.consumers = append(c.consumers, g)
		c.inbound = append(c.inbound, g.spec.topics...)
	}
	for _, g := range c.consumers {
		// runCtx, not b.Go's context: Close stops the consumers before the SDK
		// cancels that one, so it can commit what they settled.
		b.Go("kafka group "+g.spec.settings.group, func(context.Context) { g.run(runCtx) })
	}
	b.Logger.Info("kafka connector ready", "brokers", cs.addrs, "tls", cs.tls.enabled, "sasl", cs.sasl.String(), "groups", names)
	ok = true
	return c, nil
}

// ValidateConfig checks the connector URL, its options and its links without
// connecting anywhere. TLS files are read, so a missing CA file shows here. Every
// link's mistakes are reported, each tied to its link (sdk.ForLink).
func (Builder) ValidateConfig(u sdk.URL, options sdk.Config, links []sdk.LinkSpec) error {
	instance := u.Scheme
	var errs []error
	cs, err := parseConn(instance, u, options)
	if err != nil {
		errs = append(errs, err)
	} else if _, err := cs.tls.config(); err != nil {
		errs = append(errs, err)
	}
	var routes []sdk.Route
	for _, l := range links {
		switch l.Direction {
		case sdk.Outbound:
			if _, err := parseLinkTo(options, l.Resource, l.Config); err != nil {
				errs = append(errs, sdk.ForLink(l, err))
			}
		case sdk.Inbound:
			if _, err := parseLinkFrom(options, instance, l.Resource, l.Config); err != nil {
				errs = append(errs, sdk.ForLink(l, err))
				continue
			}
			routes = append(routes, sdk.Route{Resource: l.Resource, Config: l.Config, Record: l.Record})
		default:
			errs = append(errs, sdk.ForLink(l, sdk.Errorf(sdk.KindInvalidConfig, "unknown direction %d", l.Direction)))
		}
	}
	if _, err := groupRoutes(instance, options, routes); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
