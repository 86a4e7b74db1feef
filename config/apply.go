package config

import (
	"encoding/json"
	"errors"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/hashicorp/hcl/v2"
)

// Apply is the one translation of a configuration into host options: it declares the
// connector blocks as instances and the records (JSON values) with their buffer,
// writability and links with codec and options. Where the connectors' kinds come from
// (connect.WithPlugins, connect.WithConnector) is the caller's choice.
func (c *Config) Apply(b *host.Builder) {
	for _, k := range c.Connectors {
		b.Apply(connect.WithInstance(connect.Instance{Name: k.Name, Plugin: k.Plugin, URL: k.RawURL, Options: k.Options.Clone()}))
	}
	for _, r := range c.Records {
		host.Configure[json.RawMessage](b, r.Key, func(reg *host.Registrar[json.RawMessage]) {
			switch r.Buffer {
			case BufferSingleLatest:
				reg.SingleLatest()
			case BufferMailbox:
				reg.Mailbox()
			default:
				reg.SPMCRing(r.Capacity)
			}
			if r.Writable {
				reg.Writable()
			}
			for _, l := range r.Links {
				if l.Direction == sdk.Inbound {
					reg.LinkFrom(l.RawURL).WithCodec(l.Codec).WithOptions(l.Options.Clone())
				} else {
					reg.LinkTo(l.RawURL).WithCodec(l.Codec).WithOptions(l.Options.Clone())
				}
			}
		})
	}
}

// Locate turns the errors of host.Builder.Build (joined *host.ConfigError values, from
// the core or the connector layer) into diagnostics at the place each names as data:
// the option of a link or connector block, else the link, the block or the record.
// An error that names none keeps no position. A mistake about a block Parse already
// reported a mistake in follows from that one (a connector without its bad url, a
// record with a bad buffer left at its default) and is dropped, unless it is about an
// option: those are mistakes of their own.
func (c *Config) Locate(err error) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, e := range sdk.Split(err) {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid configuration", Detail: e.Error()}
		var ce *host.ConfigError
		if errors.As(e, &ce) {
			rng, follows := c.place(ce)
			if follows {
				continue
			}
			d.Subject = rng
		}
		diags = append(diags, d)
	}
	return sortDiags(diags)
}

// place finds where ce points, and whether it follows from a mistake Parse reported.
func (c *Config) place(ce *host.ConfigError) (rng *hcl.Range, follows bool) {
	switch {
	case ce.Record != "":
		r := c.Record(ce.Record)
		if r == nil {
			return nil, false
		}
		if ce.URL == "" {
			return &r.DeclRange, r.invalid
		}
		for _, l := range r.Links {
			if ce.Direction != 0 && ce.Direction != l.Direction || l.URL.String() != ce.URL && l.RawURL != ce.URL {
				continue
			}
			if at, ok := l.OptionRanges[ce.Option]; ok {
				return &at, false
			}
			return &l.Range, l.invalid && ce.Option == ""
		}
		return &r.DeclRange, false
	case ce.Instance != "":
		for _, k := range c.Instances() {
			if k.Name != ce.Instance {
				continue
			}
			if at, ok := k.OptionRanges[ce.Option]; ok {
				return &at, false
			}
			switch ce.Option {
			case "url":
				return &k.URLRange, k.invalid
			case "plugin":
				return &k.PluginRange, k.invalid
			}
			return &k.DeclRange, k.invalid
		}
	}
	return nil, false
}
