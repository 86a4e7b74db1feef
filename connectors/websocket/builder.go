package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Version is the connector's version, reported by Describe.
const Version = "0.1.0"

// Builder makes WebSocket connector instances; it holds no state.
type Builder struct{}

// NewBuilder returns the WebSocket connector kind, scheme "websocket".
func NewBuilder() sdk.ConnectorBuilder { return Builder{} }

// Scheme returns "websocket", the kind's name (plugin = "websocket"); the connector
// URL itself is ws:// or wss://.
func (Builder) Scheme() string { return "websocket" }

// Describe documents the connector's version, capabilities and options.
func (Builder) Describe() sdk.Description {
	return sdk.Description{
		Version:      Version,
		Capabilities: []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards, sdk.CapHealth},
		Options:      append([]sdk.OptionDoc(nil), optionDocs...),
		// max_payload is per instance; as a plugin the boundary's limit applies first.
		MaxPayload: 0,
	}
}

// ValidateConfig checks the URL, the options (reading the TLS files they name) and
// every link without connecting; each mistake is tied to its option and link.
func (Builder) ValidateConfig(u sdk.URL, options sdk.Config, links []sdk.LinkSpec) error {
	s, err := parseSettings(u, options)
	if s == nil {
		return err
	}
	errs := []error{err}
	if err == nil && s.tls {
		if _, err := tlsConfig(s, hclog.NewNullLogger()); err != nil {
			errs = append(errs, err)
		}
	}
	for _, l := range links {
		errs = append(errs, sdk.ForLink(l, validateLink(s, l.Direction, l.Resource, l.Config)))
	}
	return errors.Join(errs...)
}

// validateLink checks one link's resource and options.
func validateLink(s *settings, dir sdk.Direction, resource string, cfg sdk.Config) error {
	if err := checkResource(s, dir, resource); err != nil {
		return err
	}
	switch dir {
	case sdk.Outbound:
		if s.routed() && s.payloadField == nil {
			return sdk.Errorf(sdk.KindInvalidConfig, "a link_to over a routed connection needs option %q (the connector's %q is \"\")", optPayloadField, optPayloadField)
		}
		_, err := parseLinkTo(cfg)
		return err
	case sdk.Inbound:
		return cfg.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeLinkFrom)...)
	}
	return fmt.Errorf("unknown link direction %d", dir)
}

// Build makes one connector instance and connects in the background: a server that
// is not there yet is retried with backoff, so Build succeeds without one. It waits
// for the first connection attempts only briefly (at most connect_timeout or 3 s).
func (Builder) Build(ctx context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	s, err := parseSettings(b.URL, b.Options)
	if err != nil {
		return nil, fmt.Errorf("websocket connector %q: %w", b.Instance, err)
	}
	if b.Secrets != nil {
		b.Secrets.Add(s.secrets...)
	}
	var tc *tls.Config
	if s.tls {
		if tc, err = tlsConfig(s, b.Logger); err != nil {
			return nil, fmt.Errorf("websocket connector %q: %w", b.Instance, err)
		}
	}
	var resources []string
	for _, r := range b.Routes {
		if err := validateLink(s, sdk.Inbound, r.Resource, r.Config); err != nil {
			return nil, sdk.ForLink(sdk.LinkSpec{ID: r.ID, Direction: sdk.Inbound, Resource: r.Resource, Config: r.Config, Record: r.Record}, err)
		}
		resources = append(resources, r.Resource)
	}
	for _, l := range b.Outbound {
		if err := validateLink(s, sdk.Outbound, l.Resource, l.Config); err != nil {
			return nil, sdk.ForLink(l, err)
		}
		resources = append(resources, l.Resource)
	}
	dialer := &net.Dialer{Timeout: s.connectTimeout, KeepAlive: 30 * time.Second}
	c := &Connector{
		s: s, name: b.Instance, router: b.Router, log: b.Logger,
		client: &http.Client{Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			TLSClientConfig:     tc,
			TLSHandshakeTimeout: s.connectTimeout,
		}},
		endpoints: map[string]*endpoint{},
	}
	if s.routed() {
		c.add("", b)
	} else {
		for _, r := range resources {
			c.add(r, b)
		}
	}
	wait := time.NewTimer(min(s.connectTimeout, startupWait))
	defer wait.Stop()
	for _, e := range c.list {
		select {
		case <-e.first:
		case <-ctx.Done():
			return c, nil
		case <-wait.C:
			return c, nil
		}
	}
	return c, nil
}

// startupWait bounds how long Build waits for the first connections.
const startupWait = 3 * time.Second
