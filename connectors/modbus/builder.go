// Package modbus links AimDB records to Modbus devices over TCP (modbus://host:502)
// or a serial line (modbus+rtu:///dev/ttyUSB0?baud=19200&parity=E), on
// github.com/simonvetter/modbus. A link names registers or coils as
// [UNIT/]TABLE/ADDRESS[:COUNT] ("holding/100", "3/input/0:4"); link_from links are
// polled, their reads merged into as few requests as the protocol allows, and
// link_to links write coils and holding registers. The type, word_order,
// byte_order, scale and offset link options convert between registers and JSON
// values. docs/modbus.md documents every option.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Version of the Modbus connector.
const Version = "0.1.0"

// Builder makes Modbus connector instances.
type Builder struct{}

// NewBuilder returns the Modbus connector kind, scheme "modbus".
func NewBuilder() sdk.ConnectorBuilder { return Builder{} }

// Scheme returns "modbus".
func (Builder) Scheme() string { return "modbus" }

// Describe documents the connector's version, capabilities and options.
func (Builder) Describe() sdk.Description {
	return sdk.Description{
		Version:      Version,
		Capabilities: []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapHealth},
		Options:      slices.Clone(optionDocs),
		MaxPayload:   MaxPayload,
	}
}

// ValidateConfig checks the URL, the options and every link without opening
// anything; each mistake is tied to its option and link.
func (Builder) ValidateConfig(u sdk.URL, options sdk.Config, links []sdk.LinkSpec) error {
	s, err := parseSettings(u, options)
	errs := []error{err}
	_, lerr := parseLinks(links, s.unit)
	return errors.Join(append(errs, lerr)...)
}

// parseLinks parses links; link_from links naming one resource must read it alike,
// since the router hands each value to every route of its resource.
func parseLinks(specs []sdk.LinkSpec, unit uint8) ([]link, error) {
	var errs []error
	out := make([]link, len(specs))
	first := map[string]int{}
	for i, l := range specs {
		pl, err := parseLink(l.Direction, l.Resource, l.Config, unit)
		if err != nil {
			errs = append(errs, sdk.ForLink(l, err))
			continue
		}
		out[i] = pl
		if l.Direction != sdk.Inbound {
			continue
		}
		j, seen := first[l.Resource]
		if !seen {
			first[l.Resource] = i
			continue
		}
		if !maps.Equal(specs[j].Config, l.Config) {
			errs = append(errs, sdk.ForLink(l, sdk.Errorf(sdk.KindInvalidConfig,
				"link_from %q of record %q reads the same registers with other options; links of one resource must have the same options",
				specs[j].Resource, specs[j].Record)))
		}
	}
	return out, errors.Join(errs...)
}

// Build checks the configuration, then connects and polls in the background: Build
// does not wait for the device.
func (Builder) Build(ctx context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	s, err := parseSettings(b.URL, b.Options)
	if err != nil {
		return nil, fmt.Errorf("modbus connector %q: %w", b.Instance, err)
	}
	specs := make([]sdk.LinkSpec, len(b.Routes))
	for i, r := range b.Routes {
		specs[i] = sdk.LinkSpec{ID: r.ID, Direction: sdk.Inbound, Resource: r.Resource, Config: r.Config, Record: r.Record}
	}
	links, err := parseLinks(specs, s.unit)
	if err != nil {
		return nil, fmt.Errorf("modbus connector %q: %w", b.Instance, err)
	}
	var polled []*pollLink
	seen := map[string]bool{}
	for i, l := range links {
		if r := specs[i].Resource; !seen[r] {
			seen[r] = true
			polled = append(polled, &pollLink{resource: r, link: l})
		}
	}
	c := newConn(b, s)
	b.Go("modbus-connection", c.rc.Run)
	for interval, reqs := range plan(polled) {
		p := &poller{c: c, interval: interval, reqs: reqs, lastErr: map[*readReq]string{}}
		b.Go(fmt.Sprintf("modbus-poll-%v", interval), p.run)
	}
	b.Logger.Info("modbus connector ready", "to", s.name, "link_from", len(polled), "link_to", len(b.Outbound))
	return c, nil
}
