package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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
	if s, err := parseSettings("check", u, options); err != nil {
		errs = append(errs, err)
	} else if s.tls {
		if _, err := tlsConfig(s, hclog.NewNullLogger()); err != nil {
			errs = append(errs, err)
		}
	}
	for _, l := range links {
		errs = append(errs, sdk.ForLink(l, validateLink(l.Direction, l.Resource, l.Config)))
	}
	return errors.Join(errs...)
}

// validateLink checks one link's resource and options.
func validateLink(dir sdk.Direction, resource string, cfg sdk.Config) error {
	switch dir {
	case sdk.Outbound:
		if err := checkPublishTopic(resource); err != nil {
			return err
		}
		if err := cfg.Unknown(optionNames(sdk.ScopeLinkTo)...); err != nil {
			return err
		}
		_, err := parseLinkTo(cfg)
		return err
	case sdk.Inbound:
		if err := checkFilter(resource); err != nil {
			return err
		}
		if err := cfg.Unknown(optionNames(sdk.ScopeLinkFrom)...); err != nil {
			return err
		}
		_, err := parseQoS(cfg)
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
	filters := make(map[string]byte)
	for _, r := range b.Routes {
		if err := validateLink(sdk.Inbound, r.Resource, r.Config); err != nil {
			return nil, sdk.ForLink(sdk.LinkSpec{ID: r.ID, Direction: sdk.Inbound, Resource: r.Resource, Config: r.Config, Record: r.Record}, err)
		}
		q, _ := parseQoS(r.Config)
		if old, ok := filters[r.Resource]; !ok || q > old {
			filters[r.Resource] = q
		}
	}
	c := newConnector(b, s, reduceFilters(filters))
	opts := paho.NewClientOptions()
	var tc *tls.Config
	if s.tls {
		if tc, err = tlsConfig(s, b.Logger); err != nil {
			return nil, fmt.Errorf("mqtt connector %q: %w", b.Instance, err)
		}
		opts.SetTLSConfig(tc)
	}
	opts.SetCustomOpenConnectionFn(dialer(tc, s.connectTimeout))
	if s.embeddedBroker != "" {
		eb, err := startEmbeddedBroker(b.Instance, s.embeddedBroker, b.Logger)
		if err != nil {
			return nil, fmt.Errorf("mqtt connector %q: %w", b.Instance, err)
		}
		c.embedded = eb
		s.setBrokers([]string{eb.addr})
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
	opts.SetWriteTimeout(s.publishTimeout)
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
	if !s.cleanSession && !s.clientIDSet {
		b.Logger.Warn("clean_session = false without client_id: the session survives reconnects but not restarts", "client_id", s.clientID)
	}
	b.Go("mqtt-session", c.run)
	// Wait for the first attempt, so values produced right after the start do not
	// fail needlessly; a broker that is absent or slow to answer is not waited for long.
	select {
	case <-c.first:
	case <-ctx.Done():
	case <-time.After(min(s.connectTimeout, startupWait)):
	}
	return c, nil
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
