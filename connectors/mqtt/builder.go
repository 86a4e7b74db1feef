package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Version is the connector's version, reported by Describe.
const Version = "0.1.0"

// Builder makes MQTT connector instances. It holds no state: every instance owns
// its own client, counters and (optionally) embedded broker.
type Builder struct{}

// maxHandoff bounds how long paho's Publish may wait to hand a message to its
// connection's writer (its WriteTimeout). paho checks that it is connected, then waits
// for the writer; when the connection is lost in between, the writer is gone and
// nothing takes the message, so the Publish waits the whole WriteTimeout and the
// link's batch with it: with publish_timeout (30 s by default) a dead broker went
// unreported that long (test/faults TestBrokerKilledDiskOutbox caught it, in about
// one run of ten). A healthy writer takes a message at once unless a megabyte waits
// for the socket (maxPendingWrite), so 5 s fails only a stalled connection, with a
// timeout the host retries.
const maxHandoff = 5 * time.Second

// NewBuilder returns the MQTT connector kind, scheme "mqtt".
func NewBuilder() sdk.ConnectorBuilder { return Builder{} }

// Scheme returns "mqtt".
func (Builder) Scheme() string { return "mqtt" }

// Describe documents the connector's version, capabilities and options.
func (Builder) Describe() sdk.Description {
	opts := make([]sdk.OptionDoc, len(optionDocs))
	copy(opts, optionDocs)
	return sdk.Description{
		Version:      Version,
		Capabilities: []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards, sdk.CapAckCommit, sdk.CapHealth},
		Options:      opts,
		// MQTT takes up to 256 MiB (max_payload); as a plugin the boundary's smaller
		// limit applies first, so the kind declares none of its own.
		MaxPayload: 0,
	}
}

// ValidateConfig checks a connector URL, its options (reading the TLS files they
// name) and its links without connecting. Every link's mistake is reported, each
// tied to its link (sdk.ForLink) and option.
func (Builder) ValidateConfig(u sdk.URL, options sdk.Config, links []sdk.LinkSpec) error {
	var errs []error
	s, err := parseSettings("check", u, options)
	if err != nil {
		errs = append(errs, err)
	} else if s.tls {
		if _, err := tlsConfig(s, hclog.NewNullLogger()); err != nil {
			errs = append(errs, err)
		}
	}
	v5 := strings.TrimSpace(options["protocol"]) == protocol5
	var routes []sdk.Route
	for _, l := range links {
		err := validateLink(v5, l.Direction, l.Resource, l.Config)
		errs = append(errs, sdk.ForLink(l, err))
		if err == nil && l.Direction == sdk.Inbound {
			routes = append(routes, sdk.Route{ID: l.ID, Resource: l.Resource, Config: l.Config, Record: l.Record})
		}
	}
	filters, err := subscriptions(routes, v5)
	if err != nil {
		errs = append(errs, err)
	} else if s != nil {
		errs = append(errs, checkTakeover(s, filters))
	}
	return errors.Join(errs...)
}

// validateLink checks one link's resource and options; v5 says whether the instance
// speaks MQTT 5.
func validateLink(v5 bool, dir sdk.Direction, resource string, cfg sdk.Config) error {
	switch dir {
	case sdk.Outbound:
		if err := checkPublishTopic(resource); err != nil {
			return err
		}
		if err := unknownLinkOptions(cfg, sdk.ScopeLinkTo); err != nil {
			return err
		}
		if _, err := parseLinkTo(cfg); err != nil {
			return err
		}
		_, err := parseV5LinkTo(v5, cfg)
		return err
	case sdk.Inbound:
		if err := checkFilter(resource); err != nil {
			return err
		}
		if err := checkNotShared(resource); err != nil {
			return err
		}
		if err := unknownLinkOptions(cfg, sdk.ScopeLinkFrom); err != nil {
			return err
		}
		if _, err := parseQoS(cfg); err != nil {
			return err
		}
		_, err := parseShareGroup(v5, cfg)
		return err
	}
	return fmt.Errorf("unknown link direction %d", dir)
}

// Build makes one connector instance. It checks the configuration, starts the
// embedded broker when asked, and connects in the background: a broker that is not
// there yet is retried with backoff, so Build succeeds without one. It waits for the
// first connection attempt only briefly (at most connect_timeout or 3 s).
func (Builder) Build(ctx context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	s, err := parseSettings(b.Instance, b.URL, b.Options)
	if err != nil {
		return nil, fmt.Errorf("mqtt connector %q: %w", b.Instance, err)
	}
	for _, r := range b.Routes {
		if err := validateLink(s.v5.on, sdk.Inbound, r.Resource, r.Config); err != nil {
			return nil, sdk.ForLink(sdk.LinkSpec{ID: r.ID, Direction: sdk.Inbound, Resource: r.Resource, Config: r.Config, Record: r.Record}, err)
		}
	}
	filters, err := subscriptions(b.Routes, s.v5.on)
	if err == nil {
		err = checkTakeover(s, filters)
	}
	if err != nil {
		return nil, fmt.Errorf("mqtt connector %q: %w", b.Instance, err)
	}
	c := newConnector(b, s, filters)
	opts := paho.NewClientOptions()
	var tc *tls.Config
	if s.tls {
		if tc, err = tlsConfig(s, b.Logger); err != nil {
			return nil, fmt.Errorf("mqtt connector %q: %w", b.Instance, err)
		}
		opts.SetTLSConfig(tc)
	}
	opts.SetCustomOpenConnectionFn(dialer(tc, s.connectTimeout, c.ackNow()))
	if s.embeddedBroker != "" {
		eb, err := startEmbeddedBroker(b.Instance, s.embeddedBroker, b.Logger)
		if err != nil {
			return nil, fmt.Errorf("mqtt connector %q: %w", b.Instance, err)
		}
		c.embedded = eb
		s.setBrokers([]string{eb.addr})
	}
	if s.v5.on {
		c.v5 = newV5Client(c, tc)
		return c.start(ctx, b, c.v5.run), nil
	}
	for _, broker := range s.brokers {
		opts.AddBroker(broker)
	}
	opts.SetClientID(s.clientID)
	opts.SetUsername(s.username)
	opts.SetPassword(s.password)
	opts.SetProtocolVersion(4) // MQTT 3.1.1; no silent fallback to 3.1 that would hide auth errors
	opts.SetKeepAlive(s.keepAlive)
	opts.SetPingTimeout(s.connectTimeout)
	opts.SetConnectTimeout(s.connectTimeout)
	opts.SetWriteTimeout(min(s.publishTimeout, maxHandoff))
	opts.SetCleanSession(s.cleanSession)
	opts.SetAutoReconnect(false) // the connector's own loop reconnects, with jitter and re-subscription
	opts.SetConnectRetry(false)
	opts.SetResumeSubs(false)
	opts.SetOrderMatters(true)
	opts.SetAutoAckDisabled(true) // PUBACK only once the host has the value
	opts.SetDefaultPublishHandler(c.onMessage)
	opts.SetConnectionLostHandler(c.onConnectionLost)
	if s.statusTopic != "" {
		opts.SetWill(s.statusTopic, s.statusOffline, s.statusQoS, s.statusRetain)
	}
	c.client = paho.NewClient(opts)
	return c.start(ctx, b, c.run), nil
}

// start runs the session loop run in the background and waits for its first
// connection attempt, so values produced right after the start do not fail
// needlessly; a broker that is absent or slow to answer is not waited for long.
func (c *Connector) start(ctx context.Context, b *sdk.BuildContext, run func(context.Context)) *Connector {
	if !c.s.cleanSession && !c.s.clientIDSet {
		b.Logger.Warn("clean_session = false without client_id: the session survives reconnects but not restarts", "client_id", c.s.clientID)
	}
	b.Go("mqtt-session", run)
	select {
	case <-c.first:
	case <-ctx.Done():
	case <-time.After(min(c.s.connectTimeout, startupWait)):
	}
	return c
}

// startupWait bounds how long Build waits for the first connection.
const startupWait = 3 * time.Second

// plain strips the kind from an sdk error, for re-wrapping under another kind
// without printing two kinds.
func plain(err error) error {
	var e *sdk.Error
	if errors.As(err, &e) && e.Err != nil {
		return e.Err
	}
	return err
}
