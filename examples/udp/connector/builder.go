// Package connector links AimDB records to UDP datagrams. A datagram carries one
// message: the topic, a newline, then the payload. Values of link_to records go to the
// connector URL's address; datagrams arriving on the "listen" address feed the
// link_from records whose topic pattern matches.
package connector

import (
	"context"
	"errors"
	"net"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// MaxPayload is the largest payload one datagram carries.
const MaxPayload = 60000

// Builder builds UDP connector instances.
type Builder struct{}

// NewBuilder returns the UDP connector's builder.
func NewBuilder() sdk.ConnectorBuilder { return Builder{} }

// Scheme is "udp": links are written udp://topic.
func (Builder) Scheme() string { return "udp" }

// Describe tells the host the connector's version, capabilities and options.
func (Builder) Describe() sdk.Description {
	return sdk.Description{
		Version:      "0.1.0",
		Capabilities: []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards},
		Options: []sdk.OptionDoc{
			{Name: "listen", Scope: sdk.ScopeConnector, Doc: "local host:port to receive datagrams on; needed by link_from, bound only when the instance has link_from links"},
		},
		MaxPayload: MaxPayload,
	}
}

// ValidateConfig checks the URL, options and links without opening a socket. It
// reports every mistake, each tied to its link (sdk.ForLink), joined.
func (Builder) ValidateConfig(u sdk.URL, options sdk.Config, links []sdk.LinkSpec) error {
	_, err := parseSettings(u, options, hasInbound(links))
	errs := []error{err}
	for _, l := range links {
		if err := checkTopic(l.Resource, l.Direction == sdk.Inbound); err != nil {
			errs = append(errs, sdk.ForLink(l, sdk.Wrap(sdk.KindInvalidDestination, err)))
		}
	}
	return errors.Join(errs...)
}

func hasInbound(links []sdk.LinkSpec) bool {
	for _, l := range links {
		if l.Direction == sdk.Inbound {
			return true
		}
	}
	return false
}

// Build opens the sockets and starts the receiver.
func (Builder) Build(ctx context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	s, err := parseSettings(b.URL, b.Options, len(b.Routes) > 0)
	if err != nil {
		return nil, err
	}
	out, err := net.Dial("udp", s.target)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindConnectionFailed, "udp %s: %w", s.target, err)
	}
	c := &conn{out: out.(*net.UDPConn), log: b.Logger}
	if len(b.Routes) > 0 { // parseSettings made sure "listen" is set
		in, err := net.ListenPacket("udp", s.listen)
		if err != nil {
			out.Close()
			return nil, sdk.Errorf(sdk.KindConnectionFailed, "option \"listen\": %w", err)
		}
		c.in = in
		b.Go("receive", func(ctx context.Context) { c.receive(ctx, b.Router) })
	}
	b.Logger.Info("udp connector ready", "target", s.target, "listen", s.listen, "routes", len(b.Routes))
	return c, nil
}
