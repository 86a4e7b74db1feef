package mqtt

import (
	"slices"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// template is a link option's value with fields: "${record}" (the link's record),
// "${instance}" (the connector instance), "${topic}" (the link's topic) and "${time}"
// (when the message is published, RFC 3339 in UTC with nanoseconds). "$${" stands for
// a literal "${". In an HCL file write "$${record}": HCL itself reads "${...}".
type template struct {
	parts []templatePart
}

// templatePart is literal text, or a field when field is set.
type templatePart struct {
	text  string
	field string
}

// templateFields are the fields a template may hold.
var templateFields = []string{"record", "instance", "topic", "time"}

// parseTemplate reads option's value s; an unknown or unclosed field is an error
// naming the option.
func parseTemplate(option, s string) (template, error) {
	var t template
	var lit strings.Builder
	for s != "" {
		i := strings.Index(s, "${")
		if i < 0 {
			lit.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' { // "$${": a literal "${"
			lit.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		lit.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return template{}, sdk.OptionErrorf(sdk.KindInvalidConfig, option, "%q opens a field with ${ but never closes it", s[i:])
		}
		name := s[i+2 : i+end]
		if !slices.Contains(templateFields, name) {
			return template{}, sdk.OptionErrorf(sdk.KindInvalidConfig, option, "unknown field ${%s} (known: ${%s})", name, strings.Join(templateFields, "}, ${"))
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, templatePart{text: lit.String()})
			lit.Reset()
		}
		t.parts = append(t.parts, templatePart{field: name})
		s = s[i+end+1:]
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, templatePart{text: lit.String()})
	}
	return t, nil
}

// templateVars are the values of a link's fields that are known before its first
// message.
type templateVars struct {
	record, instance, topic string
}

// bind fills in every field but ${time}, which changes with each message.
func (t template) bind(v templateVars) template {
	var out template
	for _, p := range t.parts {
		switch p.field {
		case "record":
			p = templatePart{text: v.record}
		case "instance":
			p = templatePart{text: v.instance}
		case "topic":
			p = templatePart{text: v.topic}
		}
		if n := len(out.parts); p.field == "" && n > 0 && out.parts[n-1].field == "" {
			out.parts[n-1].text += p.text
			continue
		}
		out.parts = append(out.parts, p)
	}
	return out
}

// dynamic reports whether the template holds ${time}, which changes with each message.
func (t template) dynamic() bool {
	for _, p := range t.parts {
		if p.field == "time" {
			return true
		}
	}
	return false
}

// empty reports whether the template expands to nothing.
func (t template) empty() bool { return len(t.parts) == 0 }

// expand returns the text of a bound template for a message published at now.
func (t template) expand(now time.Time) string {
	if len(t.parts) == 1 && t.parts[0].field == "" {
		return t.parts[0].text
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "time" {
			b.WriteString(now.UTC().Format(time.RFC3339Nano))
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}
