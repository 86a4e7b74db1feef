// Package config reads an AimDB configuration written in HCL: connector instances and
// records with their links. Parsing keeps the source range of every block and link, so
// a mistake found now, or later when the plugins are known, points at file:line:col.
package config

import (
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/hashicorp/hcl/v2"
)

// Buffer kinds a record may use.
const (
	BufferSPMCRing     = "spmc_ring"     // a ring every reader follows on its own
	BufferSingleLatest = "single_latest" // only the newest value is kept
	BufferMailbox      = "mailbox"       // one slot, the newest value replaces an unread one
)

// DefaultCapacity is the capacity of an spmc_ring record that names none.
const DefaultCapacity = 256

// MaxCapacity bounds an spmc_ring's capacity so a typo cannot exhaust memory.
const MaxCapacity = 1 << 20

// Codecs a link may name in its codec attribute.
var Codecs = []string{"json", "text", "raw"}

// Config is one parsed configuration file.
type Config struct {
	// Filename is the name the configuration was parsed under, as used in positions.
	Filename string
	// Connectors are the connector blocks, in file order.
	Connectors []*Connector
	// Records are the record blocks, in file order.
	Records []*Record
	// HTTP is the http block, nil when there is none.
	HTTP *HTTP
}

// Connector is one connector block: a named instance of a plugin.
type Connector struct {
	// Name is the instance name, the scheme its links use ("mqtt", "plant-b").
	Name string
	// Plugin is the scheme of the plugin that runs the instance; it defaults to Name.
	Plugin string
	// URL is the instance's own address; zero when the block names none.
	URL sdk.URL
	// RawURL is the url attribute as written; "" when absent.
	RawURL string
	// Options holds every other attribute, converted to text.
	Options sdk.Config
	// Implicit is true for an instance no block declares: a link's scheme that names
	// a plugin, run with its defaults.
	Implicit bool

	// DeclRange is the block's header (or, for an implicit instance, its first link).
	DeclRange hcl.Range
	// PluginRange is where the plugin is named: the plugin attribute or the label.
	PluginRange hcl.Range
	// URLRange is the url attribute's value; DeclRange when absent.
	URLRange hcl.Range
	// OptionRanges maps each option to its attribute's range.
	OptionRanges map[string]hcl.Range

	invalid bool // Parse reported a mistake in the block
}

// Record is one record block. Records from a configuration hold JSON values.
type Record struct {
	// Key names the record ("sensors.temp").
	Key string
	// Buffer is one of the Buffer... kinds.
	Buffer string
	// Capacity is the ring size of an spmc_ring; 0 for the other kinds.
	Capacity int
	// Writable records may be set through the control socket.
	Writable bool
	// Links are the record's link_from and link_to blocks, in file order.
	Links []*Link

	// DeclRange is the block's header.
	DeclRange hcl.Range

	invalid bool // Parse reported a mistake in the block's own attributes
}

// Link is one link_from or link_to block.
type Link struct {
	// Direction is sdk.Inbound for link_from and sdk.Outbound for link_to.
	Direction sdk.Direction
	// RawURL is the label as written.
	RawURL string
	// URL is the parsed label: its scheme names the connector instance.
	URL sdk.URL
	// Instance is the connector instance the link goes through (the URL's scheme).
	Instance string
	// Resource is the part after "://": topic, group address or path.
	Resource string
	// Codec is the link's codec, "json" unless the codec attribute says otherwise.
	Codec string
	// Options holds the link's other attributes, converted to text, for the connector.
	Options sdk.Config

	// Range is the URL label's range: where errors about the link point.
	Range hcl.Range
	// OptionRanges maps each option to its attribute's range.
	OptionRanges map[string]hcl.Range

	invalid bool // Parse reported a mistake in the block
}

// Connector returns the connector block named name, or nil.
func (c *Config) Connector(name string) *Connector {
	for _, k := range c.Connectors {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// Record returns the record with key, or nil.
func (c *Config) Record(key string) *Record {
	for _, r := range c.Records {
		if r.Key == key {
			return r
		}
	}
	return nil
}

// Instances returns every connector instance the configuration needs: the declared
// blocks, then one implicit instance for each link scheme no block declares (its
// plugin is the scheme, with default options), in order of first use.
func (c *Config) Instances() []*Connector {
	out := append([]*Connector(nil), c.Connectors...)
	seen := make(map[string]bool, len(out))
	for _, k := range out {
		seen[k.Name] = true
	}
	for _, r := range c.Records {
		for _, l := range r.Links {
			if l.Instance == "" || seen[l.Instance] {
				continue
			}
			seen[l.Instance] = true
			out = append(out, &Connector{
				Name: l.Instance, Plugin: l.Instance, Options: sdk.Config{}, Implicit: true,
				DeclRange: l.Range, PluginRange: l.Range, URLRange: l.Range,
				OptionRanges: map[string]hcl.Range{},
			})
		}
	}
	return out
}
