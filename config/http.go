package config

import (
	"net"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// HTTP is the http block: the operations listener (metrics, probes, dashboard,
// control protocol over WebSocket).
type HTTP struct {
	// Listen is the address to listen on, host:port.
	Listen string
	// TokenEnv names the environment variable that holds the bearer token every
	// request must carry; "" for none (allowed on a loopback address only).
	TokenEnv string

	// DeclRange is the block's header; ListenRange and TokenEnvRange the values.
	DeclRange, ListenRange, TokenEnvRange hcl.Range
}

var httpSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "listen", Required: true}, {Name: "token_env"}},
}

// http parses the http block.
func (p *parser) http(b *hcl.Block) *HTTP {
	h := &HTTP{DeclRange: b.DefRange}
	content, d := b.Body.Content(httpSchema)
	p.diags = append(p.diags, d...)
	if d.HasErrors() {
		return nil
	}
	ok := true
	a := content.Attributes["listen"]
	if v, good := p.typed(a, cty.String, "http"); !good {
		ok = false
	} else if err := checkListen(v.AsString()); err != "" {
		p.errorf(a.Expr.Range(), "Invalid listen address", "http: listen %q: %s", v.AsString(), err)
		ok = false
	} else {
		h.Listen, h.ListenRange = v.AsString(), a.Expr.Range()
	}
	h.TokenEnvRange = h.DeclRange
	if a := content.Attributes["token_env"]; a != nil {
		if v, good := p.typed(a, cty.String, "http"); !good {
			ok = false
		} else if !envName(v.AsString()) {
			p.errorf(a.Expr.Range(), "Invalid token_env", "http: token_env %q is not an environment variable name (letters, digits and '_', not starting with a digit)", v.AsString())
			ok = false
		} else {
			h.TokenEnv, h.TokenEnvRange = v.AsString(), a.Expr.Range()
		}
	}
	if !ok {
		return nil
	}
	return h
}

// checkListen checks a host:port listen address; it returns why not, or "".
func checkListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "want host:port, such as 127.0.0.1:9180"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "the port must be a number from 0 to 65535"
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return "the host must be an IP address, localhost, or empty for every interface"
	}
	return ""
}

// envName reports whether s is a usable environment variable name.
func envName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
