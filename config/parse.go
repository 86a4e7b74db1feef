package config

import (
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "connector", LabelNames: []string{"name"}},
		{Type: "record", LabelNames: []string{"key"}},
		{Type: "http"},
	},
}

var recordSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "buffer"}, {Name: "capacity"}, {Name: "writable"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "link_from", LabelNames: []string{"url"}},
		{Type: "link_to", LabelNames: []string{"url"}},
	},
}

// ParseFile reads and parses the configuration file at path, as Parse does.
func ParseFile(path string) (*Config, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return &Config{Filename: path}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration",
			Detail:   err.Error(),
		}}
	}
	return Parse(src, path)
}

// Parse parses src, naming it filename in positions. It returns every mistake it
// finds, sorted by position, and the configuration as far as it parsed: a block with
// a mistake keeps what was valid (a bad value leaves its default, a bad option is left
// out), a link or record too broken to use and a block defined twice are left out.
// Run nothing from a configuration whose diagnostics hold errors; `aimdb check`
// builds it all the same, to find the mistakes the host and the plugins see too
// (Locate drops those that follow from a mistake Parse reported).
func Parse(src []byte, filename string) (*Config, hcl.Diagnostics) {
	p := &parser{cfg: &Config{Filename: filename}}
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	p.diags = append(p.diags, diags...)
	if file == nil || file.Body == nil {
		return p.cfg, sortDiags(p.diags)
	}
	content, d := file.Body.Content(rootSchema)
	p.diags = append(p.diags, d...)
	connectors := map[string]hcl.Range{}
	records := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		if b.Type == "http" {
			if p.cfg.HTTP != nil {
				p.errorf(b.DefRange, "Duplicate http block", "an http block is already defined at %s", pos(p.cfg.HTTP.DeclRange))
				continue
			}
			p.cfg.HTTP = p.http(b)
			if p.cfg.HTTP == nil {
				p.cfg.HTTP = &HTTP{DeclRange: b.DefRange} // remembered for the duplicate check
			}
			continue
		}
		name := b.Labels[0]
		switch b.Type {
		case "connector":
			if first, dup := connectors[name]; dup {
				p.errorf(b.LabelRanges[0], "Duplicate connector",
					"connector %q is already defined at %s", name, pos(first))
				continue
			}
			connectors[name] = b.LabelRanges[0]
			p.cfg.Connectors = append(p.cfg.Connectors, p.connector(b))
		case "record":
			if first, dup := records[name]; dup {
				p.errorf(b.LabelRanges[0], "Duplicate record",
					"record %q is already defined at %s", name, pos(first))
				continue
			}
			records[name] = b.LabelRanges[0]
			if r := p.record(b); r != nil {
				p.cfg.Records = append(p.cfg.Records, r)
			}
		}
	}
	return p.cfg, sortDiags(p.diags)
}

type parser struct {
	cfg   *Config
	diags hcl.Diagnostics
}

func (p *parser) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	p.diags = append(p.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

// connector reads a connector block; one with mistakes is kept, marked invalid,
// without its bad url, plugin or options.
func (p *parser) connector(b *hcl.Block) *Connector {
	name := b.Labels[0]
	k := &Connector{
		Name: name, Plugin: name, Options: sdk.Config{},
		DeclRange: b.LabelRanges[0], PluginRange: b.LabelRanges[0], URLRange: b.LabelRanges[0],
		OptionRanges: map[string]hcl.Range{},
	}
	ok := true
	if err := checkName(name); err != nil {
		p.errorf(b.LabelRanges[0], "Invalid connector name", "connector %q: %v", name, err)
		ok = false
	}
	attrs, d := b.Body.JustAttributes()
	p.diags = append(p.diags, d...)
	if d.HasErrors() {
		ok = false
	}
	for _, a := range sortedAttrs(attrs) {
		v, good := p.scalar(a, fmt.Sprintf("connector %q", name))
		if !good {
			ok = false
			continue
		}
		switch a.Name {
		case "plugin":
			if err := checkName(v); err != nil {
				p.errorf(a.Expr.Range(), "Invalid plugin name", "connector %q: plugin %q: %v", name, v, err)
				ok = false
			}
			k.Plugin, k.PluginRange = v, a.Expr.Range()
		case "url":
			k.URLRange = a.Expr.Range()
			u, err := sdk.ParseConnectorURL(v)
			if err != nil {
				p.errorf(a.Expr.Range(), "Invalid URL", "connector %q: %v", name, err)
				ok = false
				continue
			}
			k.URL, k.RawURL = u, v
		default:
			k.Options[a.Name] = v
			k.OptionRanges[a.Name] = a.Range
		}
	}
	k.invalid = !ok
	return k
}

// record reads a record block; nil when its key is invalid. One with other mistakes
// is kept, marked invalid, with its bad attributes at their defaults and its broken
// links left out.
func (p *parser) record(b *hcl.Block) *Record {
	key := b.Labels[0]
	r := &Record{Key: key, Buffer: BufferSPMCRing, DeclRange: b.LabelRanges[0]}
	what := fmt.Sprintf("record %q", key)
	ok := true
	if err := checkKey(key); err != nil {
		p.errorf(b.LabelRanges[0], "Invalid record key", "%s: %v", what, err)
		return nil
	}
	content, d := b.Body.Content(recordSchema)
	p.diags = append(p.diags, d...)
	if d.HasErrors() {
		ok = false
	}
	if a := content.Attributes["buffer"]; a != nil {
		v, good := p.typed(a, cty.String, what)
		switch {
		case !good:
			ok = false
		case v.AsString() == BufferSPMCRing, v.AsString() == BufferSingleLatest, v.AsString() == BufferMailbox:
			r.Buffer = v.AsString()
		default:
			p.errorf(a.Expr.Range(), "Invalid buffer kind",
				"%s: buffer %q is not one of %s, %s, %s", what, v.AsString(), BufferSPMCRing, BufferSingleLatest, BufferMailbox)
			ok = false
		}
	}
	if r.Buffer == BufferSPMCRing {
		r.Capacity = DefaultCapacity
	}
	if a := content.Attributes["capacity"]; a != nil {
		v, good := p.typed(a, cty.Number, what)
		if !good {
			ok = false
		} else if n, err := capacity(v.AsBigFloat()); err != nil {
			p.errorf(a.Expr.Range(), "Invalid capacity", "%s: %v", what, err)
			ok = false
		} else if r.Buffer != BufferSPMCRing {
			p.errorf(a.NameRange, "Invalid capacity",
				"%s: capacity applies only to buffer %q; a %s buffer holds one value", what, BufferSPMCRing, r.Buffer)
			ok = false
		} else {
			r.Capacity = n
		}
	}
	if a := content.Attributes["writable"]; a != nil {
		v, good := p.typed(a, cty.Bool, what)
		if !good {
			ok = false
		} else {
			r.Writable = v.True()
		}
	}
	var writer *Link
	for _, lb := range content.Blocks {
		l := p.link(lb, what)
		if l == nil {
			continue
		}
		dup := false
		for _, other := range r.Links {
			if other.Direction == l.Direction && other.RawURL == l.RawURL {
				p.errorf(l.Range, "Duplicate link", "%s: %s %q is already declared at %s", what, lb.Type, l.RawURL, pos(other.Range))
				dup = true
			}
		}
		if dup {
			continue
		}
		if l.Direction == sdk.Inbound {
			if writer != nil {
				p.errorf(l.Range, "Two writers on one record",
					"%s: link_from %q would be a second writer; the record already takes values from link_from %q at %s",
					what, l.RawURL, writer.RawURL, pos(writer.Range))
				continue
			}
			writer = l
		}
		r.Links = append(r.Links, l)
	}
	r.invalid = !ok
	return r
}

// link reads a link block; nil when its URL is invalid. One with other mistakes is
// kept, marked invalid, without its bad options (and with the json codec).
func (p *parser) link(b *hcl.Block, what string) *Link {
	raw := b.Labels[0]
	l := &Link{Direction: sdk.Outbound, RawURL: raw, Codec: "json", Options: sdk.Config{},
		Range: b.LabelRanges[0], OptionRanges: map[string]hcl.Range{}}
	if b.Type == "link_from" {
		l.Direction = sdk.Inbound
	}
	ok := true
	u, err := sdk.ParseURL(raw)
	if err != nil {
		p.errorf(l.Range, "Invalid link URL", "%s: %s: %v", what, b.Type, err)
		return nil
	}
	l.URL, l.Instance, l.Resource = u, u.Scheme, u.Resource()
	if l.Direction == sdk.Outbound && sdk.HasWildcard(l.Resource) {
		p.errorf(l.Range, "Invalid link URL", "%s: link_to %q: a destination cannot hold the wildcards + or #", what, raw)
		return nil
	} else if l.Direction == sdk.Inbound {
		if err := sdk.ValidatePattern(l.Resource); err != nil {
			p.errorf(l.Range, "Invalid link URL", "%s: link_from %q: %v", what, raw, err)
			return nil
		}
	}
	attrs, d := b.Body.JustAttributes()
	p.diags = append(p.diags, d...)
	if d.HasErrors() {
		ok = false
	}
	linkWhat := fmt.Sprintf("%s: %s %q", what, b.Type, raw)
	for _, a := range sortedAttrs(attrs) {
		v, good := p.scalar(a, linkWhat)
		if !good {
			ok = false
			continue
		}
		if a.Name == "codec" {
			if !oneOf(v, Codecs) {
				p.errorf(a.Expr.Range(), "Invalid codec", "%s: codec %q is not one of %s", linkWhat, v, strings.Join(Codecs, ", "))
				ok = false
				continue
			}
			l.Codec = v
			continue
		}
		l.Options[a.Name] = v
		l.OptionRanges[a.Name] = a.Range
	}
	l.invalid = !ok
	return l
}

// evalCtx offers env("NAME") so secrets need not be written into the file.
var evalCtx = &hcl.EvalContext{Functions: map[string]function.Function{
	"env": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "name", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			v, ok := os.LookupEnv(name)
			if !ok {
				return cty.NilVal, fmt.Errorf("environment variable %q is not set", name)
			}
			return cty.StringVal(v), nil
		},
	}),
}}

// value evaluates an attribute; the diagnostics point into the expression.
func (p *parser) value(a *hcl.Attribute) (cty.Value, bool) {
	v, d := a.Expr.Value(evalCtx)
	p.diags = append(p.diags, d...)
	if d.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		p.errorf(a.Expr.Range(), "Invalid value", "%q must not be null", a.Name)
		return cty.NilVal, false
	}
	return v, true
}

// typed evaluates an attribute that must have type want.
func (p *parser) typed(a *hcl.Attribute, want cty.Type, what string) (cty.Value, bool) {
	v, ok := p.value(a)
	if !ok {
		return v, false
	}
	if !v.Type().Equals(want) {
		p.errorf(a.Expr.Range(), "Invalid value", "%s: %q must be a %s, got %s", what, a.Name, want.FriendlyName(), v.Type().FriendlyName())
		return v, false
	}
	return v, true
}

// scalar evaluates an option: a string, number or bool, converted to text.
func (p *parser) scalar(a *hcl.Attribute, what string) (string, bool) {
	v, ok := p.value(a)
	if !ok {
		return "", false
	}
	switch v.Type() {
	case cty.String:
		return v.AsString(), true
	case cty.Bool:
		if v.True() {
			return "true", true
		}
		return "false", true
	case cty.Number:
		f := v.AsBigFloat()
		if f.IsInt() {
			return f.Text('f', 0), true
		}
		return f.Text('g', -1), true
	}
	p.errorf(a.Expr.Range(), "Invalid value", "%s: %q must be a string, number or bool, got %s", what, a.Name, v.Type().FriendlyName())
	return "", false
}

func capacity(f *big.Float) (int, error) {
	if !f.IsInt() {
		return 0, fmt.Errorf("capacity %s is not a whole number", f.Text('g', -1))
	}
	if f.Sign() <= 0 || f.Cmp(big.NewFloat(MaxCapacity)) > 0 {
		return 0, fmt.Errorf("capacity %s is out of range 1..%d", f.Text('f', 0), MaxCapacity)
	}
	n, _ := f.Int64()
	return int(n), nil
}

// checkName checks a connector instance or plugin name: it is a link URL's scheme.
func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.' || r == '_')
		if !ok {
			return fmt.Errorf("a connector name is a URL scheme: it must start with a lower-case letter and hold only a-z, 0-9, '+', '-', '.', '_'")
		}
	}
	return nil
}

// checkKey checks a record key: dot-separated segments, none empty, and no characters
// that watch patterns or the shell give a meaning to.
func checkKey(s string) error {
	if s == "" {
		return fmt.Errorf("empty key")
	}
	for _, seg := range strings.Split(s, ".") {
		if seg == "" {
			return fmt.Errorf("empty segment between dots")
		}
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return r == '*' || r == '#' || r == '+' || r <= ' ' || r == 0x7f
	}); i >= 0 {
		return fmt.Errorf("character %q is not allowed in a key (keys are dot-separated names; * and # are watch wildcards)", s[i])
	}
	return nil
}

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
