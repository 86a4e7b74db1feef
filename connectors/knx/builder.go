// Package knx connects AimDB records to a KNX installation over KNXnet/IP: tunnelling
// to a gateway (knx://host:port) or multicast routing (knx+routing://224.0.23.12:3671).
// Links name group addresses; the dpt link option converts JSON values to and from
// KNX datapoint types.
package knx

import (
	"context"
	"errors"
	"fmt"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/dpt"
	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Version of the KNX connector.
const Version = "0.1.0"

// maxData is the most data bytes one standard-frame telegram carries (a 15-octet APDU
// less its APCI octet). Extended frames carry more, but gateways such as knxd and
// most TP1 lines do not pass them, so a longer payload is refused up front.
const maxData = 14

// errTooLarge marks a payload that does not fit one telegram.
var errTooLarge = errors.New("payload too large for one telegram")

type builder struct{}

// NewBuilder returns the builder of KNX connector instances (scheme "knx").
func NewBuilder() sdk.ConnectorBuilder { return builder{} }

// Scheme returns "knx".
func (builder) Scheme() string { return "knx" }

// Describe documents the connector's options and capabilities.
func (builder) Describe() sdk.Description {
	return sdk.Description{
		Version:      Version,
		Capabilities: []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards, sdk.CapHealth, sdk.CapLatest},
		Options:      append([]sdk.OptionDoc(nil), optionDocs...),
		MaxPayload:   maxData,
	}
}

// Build checks the configuration and starts the tunnel or routing transport in the
// background; Build itself does not wait for the gateway.
func (builder) Build(ctx context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	s, err := parseSettings(b.URL, b.Options)
	if err != nil {
		return nil, fmt.Errorf("knx connector %q: %w", b.Instance, err)
	}
	specs := make([]sdk.LinkSpec, len(b.Routes), len(b.Routes)+len(b.Outbound))
	for i, r := range b.Routes {
		specs[i] = sdk.LinkSpec{Direction: sdk.Inbound, Resource: r.Resource, Config: r.Config, Record: r.Record}
	}
	specs = append(specs, b.Outbound...)
	opts, err := checkLinks(specs, s.ets)
	if err != nil {
		return nil, sdk.Wrap(sdk.KindInvalidConfig, fmt.Errorf("knx connector %q: %w", b.Instance, err))
	}
	c := newConnector(b, s)
	for i, r := range b.Routes {
		c.routeOpts[r.ID] = opts[i]
		if opts[i].readInit {
			ga, _ := knxnet.ParseGroupAddress(r.Resource) // checked by checkLinks
			c.readInit = append(c.readInit, ga)
		}
	}
	// Outbound links with respond = true answer reads from the start, with the
	// host's latest value, not only after their first Publish.
	for i, l := range b.Outbound {
		lo := opts[len(b.Routes)+i]
		if !lo.respond {
			continue
		}
		ga, _ := knxnet.ParseGroupAddress(l.Resource) // checked by checkLinks
		lo.dpt = s.ets.typeFor(lo.dpt, ga)
		c.responders[ga] = &responder{resource: l.Resource, opts: lo}
	}
	c.start()
	return c, nil
}

// encodeValue turns a link's payload into telegram data: a JSON value through the
// link's DPT, or the raw bytes.
func encodeValue(lo linkOptions, payload []byte) (data []byte, short bool, err error) {
	if lo.dpt != nil {
		data, err = lo.dpt.Encode(payload)
		return data, lo.dpt.Short, err
	}
	if len(payload) == 0 {
		return nil, false, errors.New("raw payload is empty (set dpt to send JSON values)")
	}
	if len(payload) > maxData {
		return nil, false, fmt.Errorf("%w: %d bytes, a standard KNX telegram carries at most %d", errTooLarge, len(payload), maxData)
	}
	return payload, false, nil
}

// decodeValue turns telegram data into a route payload.
func decodeValue(t *dpt.Type, data []byte) ([]byte, error) {
	if t == nil {
		return append([]byte(nil), data...), nil
	}
	return t.Decode(data)
}
