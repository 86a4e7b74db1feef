package config

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

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
// the core or the plugin layer) into diagnostics that point at the record or link in
// the file. An error that names neither keeps no position.
func (c *Config) Locate(err error) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, e := range flatten(err) {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid configuration", Detail: e.Error()}
		var ce *host.ConfigError
		if errors.As(e, &ce) {
			if rng, ok := c.rangeOf(ce.Record, ce.URL, ce.Error()); ok {
				d.Subject = &rng
			} else if k := c.instanceIn(ce.Error()); k != nil {
				rng := k.rangeFor(ce.Error())
				d.Subject = &rng
			}
		}
		diags = append(diags, d)
	}
	return sortDiags(diags)
}

// rangeOf finds the link (when url is set and matches; the option the message names,
// if any) or else the record.
func (c *Config) rangeOf(key, url, msg string) (hcl.Range, bool) {
	r := c.Record(key)
	if r == nil {
		return hcl.Range{}, false
	}
	if url != "" {
		for _, l := range r.Links {
			if l.URL.String() == url || l.RawURL == url {
				return optionRange(msg, l.OptionRanges, l.Range), true
			}
		}
	}
	return r.DeclRange, true
}

// rangeFor picks the most precise place for an error about the instance: the option
// or URL it names, the plugin when no kind serves it, else the block.
func (k *Connector) rangeFor(msg string) hcl.Range {
	switch {
	case strings.Contains(msg, "no connector kind"):
		return k.PluginRange
	case strings.Contains(msg, "url ") && k.RawURL != "":
		return k.URLRange
	}
	return optionRange(msg, k.OptionRanges, k.DeclRange)
}

// optionRange returns the range of the first option msg names as option "NAME"
// (the form sdk.Config's errors use), or def.
func optionRange(msg string, ranges map[string]hcl.Range, def hcl.Range) hcl.Range {
	best, at := def, -1
	for name, rng := range ranges {
		if i := strings.Index(msg, "option "+strconv.Quote(name)); i >= 0 && (at < 0 || i < at) {
			best, at = rng, i
		}
	}
	return best
}

// instanceIn finds the connector instance an error is about. The connector layer
// names it as `connector instance "NAME"` in errors that concern no record.
func (c *Config) instanceIn(msg string) *Connector {
	for _, k := range c.Instances() {
		if strings.Contains(msg, "connector instance "+strconv.Quote(k.Name)) {
			return k
		}
	}
	return nil
}

// flatten unpacks errors.Join trees into their leaves.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
