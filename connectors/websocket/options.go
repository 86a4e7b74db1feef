package websocket

import (
	"errors"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Option names.
const (
	optRouteField     = "route_field"
	optPayloadField   = "payload_field"
	optSubprotocols   = "subprotocols"
	optHeaders        = "headers"
	optHeadersEnv     = "headers_env"
	optTokenEnv       = "token_env"
	optPingInterval   = "ping_interval"
	optPongTimeout    = "pong_timeout"
	optConnectTimeout = "connect_timeout"
	optWriteTimeout   = "write_timeout"
	optReconnectMin   = "reconnect_min"
	optReconnectMax   = "reconnect_max"
	optMaxPayload     = "max_payload"
	optMaxInflight    = "max_inflight"
	optTLSCA          = "tls_ca_file"
	optTLSCert        = "tls_cert_file"
	optTLSKey         = "tls_key_file"
	optTLSServerName  = "tls_server_name"
	optTLSInsecure    = "tls_insecure_skip_verify"
	optFrame          = "frame"
	optConfirm        = "confirm"
)

// Defaults.
const (
	defaultPayloadField   = "payload"
	defaultPingInterval   = 15 * time.Second
	defaultPongTimeout    = 10 * time.Second
	defaultConnectTimeout = 10 * time.Second
	defaultWriteTimeout   = 10 * time.Second
	defaultReconnectMin   = 100 * time.Millisecond
	defaultReconnectMax   = 30 * time.Second
	defaultMaxPayload     = 16 << 20
	maxPayloadLimit       = 1 << 30
	defaultMaxInflight    = 1000
)

// optionDocs documents every option; the known-option checks are derived from it, so
// an option cannot be accepted without being documented.
var optionDocs = []sdk.OptionDoc{
	{Name: optRouteField, Scope: sdk.ScopeConnector, Doc: `JSON field (dotted path, "meta.topic") that routes received frames to link_from patterns over one shared connection; unset: one connection per link resource`},
	{Name: optPayloadField, Scope: sdk.ScopeConnector, Default: defaultPayloadField, Doc: `with route_field: the JSON field holding the value (a string field gives its text); "" takes the whole frame (link_from only)`},
	{Name: optSubprotocols, Scope: sdk.ScopeConnector, Doc: "subprotocols offered in the handshake, comma-separated; the server must accept one"},
	{Name: optHeaders, Scope: sdk.ScopeConnector, Doc: `extra handshake headers, "Name: value" pairs separated by ";" or newlines`},
	{Name: optHeadersEnv, Scope: sdk.ScopeConnector, Doc: "environment variable holding more handshake headers in the headers format (API keys); never printed"},
	{Name: optTokenEnv, Scope: sdk.ScopeConnector, Doc: "environment variable holding a bearer token sent as Authorization: Bearer in the handshake"},
	{Name: optPingInterval, Scope: sdk.ScopeConnector, Default: defaultPingInterval.String(), Doc: "how often each connection pings the server; 0 turns heartbeats off"},
	{Name: optPongTimeout, Scope: sdk.ScopeConnector, Default: defaultPongTimeout.String(), Doc: "a ping (heartbeat or confirm) unanswered this long drops the connection, which then reconnects"},
	{Name: optConnectTimeout, Scope: sdk.ScopeConnector, Default: defaultConnectTimeout.String(), Doc: "time allowed for one connection attempt (TCP, TLS and the HTTP upgrade)"},
	{Name: optWriteTimeout, Scope: sdk.ScopeConnector, Default: defaultWriteTimeout.String(), Doc: "how long a publish may take (frames and confirm) when the host set no deadline"},
	{Name: optReconnectMin, Scope: sdk.ScopeConnector, Default: defaultReconnectMin.String(), Doc: "first reconnect delay; it doubles (with jitter) after every failed attempt"},
	{Name: optReconnectMax, Scope: sdk.ScopeConnector, Default: defaultReconnectMax.String(), Doc: "longest delay between reconnect attempts"},
	{Name: optMaxPayload, Scope: sdk.ScopeConnector, Default: strconv.Itoa(defaultMaxPayload), Doc: "largest frame in bytes sent or received; a larger value fails as message too large, a larger received frame drops the connection"},
	{Name: optMaxInflight, Scope: sdk.ScopeConnector, Default: strconv.Itoa(defaultMaxInflight), Doc: "received frames handed to the host at once per connection; beyond it the connector stops reading (TCP back-pressure)"},
	{Name: optTLSCA, Scope: sdk.ScopeConnector, Doc: "PEM file of the CA(s) that sign the server's certificate (wss://); default: the system roots"},
	{Name: optTLSCert, Scope: sdk.ScopeConnector, Doc: "PEM client certificate for mutual TLS (needs tls_key_file)"},
	{Name: optTLSKey, Scope: sdk.ScopeConnector, Doc: "PEM private key of tls_cert_file"},
	{Name: optTLSServerName, Scope: sdk.ScopeConnector, Doc: "name to verify the server's certificate against, when it differs from the URL's host"},
	{Name: optTLSInsecure, Scope: sdk.ScopeConnector, Default: "false", Doc: "accept any server certificate (testing only; logs a warning)"},
	{Name: optFrame, Scope: sdk.ScopeLinkTo, Default: "auto", Doc: `frame type: "text", "binary", or "auto" (text when the value is valid UTF-8, as JSON and text codec values are; binary otherwise)`},
	{Name: optConfirm, Scope: sdk.ScopeLinkTo, Default: "ping", Doc: `"ping": a value counts as sent once the server answered a ping written after it (at least once); "none": once written to the socket`},
}

// settings is a connector instance's parsed configuration.
type settings struct {
	base         string // the URL without query: scheme://host[:port][/path]
	query        string // "?..." or ""
	tls          bool
	routeField   []string // path of route_field; nil: one connection per resource
	payloadField []string // path of payload_field; nil: the whole frame
	subprotocols []string
	header       http.Header
	secrets      []string // header values from headers_env, for the redactor

	pingInterval, pongTimeout    time.Duration
	connectTimeout, writeTimeout time.Duration
	reconnectMin, reconnectMax   time.Duration
	maxPayload, maxInflight      int

	tlsCA, tlsCert, tlsKey, tlsServerName string
	tlsInsecure                           bool
}

// routed reports whether frames are routed by a JSON field over one connection.
func (s *settings) routed() bool { return s.routeField != nil }

// endpointURL is the URL of the connection that carries resource: the connector's URL
// itself when routed, else the resource joined to its path.
func (s *settings) endpointURL(resource string) string {
	if s.routed() {
		return s.base + s.query
	}
	return strings.TrimSuffix(s.base, "/") + "/" + resource + s.query
}

// parseSettings checks a connector URL and its options. Every error is invalid
// config and names the URL or option that is wrong.
func parseSettings(u sdk.URL, opts sdk.Config) (*settings, error) {
	s := &settings{header: http.Header{}}
	var errs []error
	switch u.Scheme {
	case "ws":
	case "wss":
		s.tls = true
	case "":
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "a url is required: the server's ws:// or wss:// address"))
	default:
		errs = append(errs, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: scheme %q is not ws:// or wss://", u, u.Scheme)))
	}
	if len(u.Hosts) != 1 {
		errs = append(errs, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: want exactly one host, got %d", u, len(u.Hosts))))
	}
	if u.User != "" || u.Password != "" {
		errs = append(errs, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: credentials do not go in the URL; use %q or %q", u, optTokenEnv, optHeadersEnv)))
	}
	if _, err := u.Addrs(443); err != nil {
		errs = append(errs, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "%v", err)))
	}
	if err := opts.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeConnector)...); err != nil {
		errs = append(errs, err)
	}
	if len(u.Hosts) > 0 {
		s.base = u.Scheme + "://" + u.Hosts[0] + u.Path
	}
	if len(u.Query) > 0 {
		s.query = "?" + u.Query.Encode()
	}

	var err error
	if v, ok := opts[optRouteField]; ok {
		if s.routeField, err = fieldPath(optRouteField, v); err != nil {
			errs = append(errs, err)
		}
		s.payloadField = []string{defaultPayloadField}
		if v, ok := opts[optPayloadField]; ok {
			s.payloadField = nil
			if strings.TrimSpace(v) != "" {
				if s.payloadField, err = fieldPath(optPayloadField, v); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if s.payloadField != nil && overlap(s.routeField, s.payloadField) {
			errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optPayloadField, "%q overlaps %q (%q): they must be different fields", strings.Join(s.payloadField, "."), optRouteField, strings.Join(s.routeField, ".")))
		}
	} else if _, ok := opts[optPayloadField]; ok {
		errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optPayloadField, "needs %q: without it every frame is a whole value", optRouteField))
	}
	for _, p := range strings.Split(opts.String(optSubprotocols, ""), ",") {
		if p = strings.TrimSpace(p); p != "" {
			if !token(p) {
				errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optSubprotocols, "%q is not a valid subprotocol name (an HTTP token)", p))
			}
			s.subprotocols = append(s.subprotocols, p)
		}
	}
	if err := parseHeaders(s.header, optHeaders, opts.String(optHeaders, ""), false); err != nil {
		errs = append(errs, err)
	}
	if name, ok := opts[optHeadersEnv]; ok {
		v, err := envValue(optHeadersEnv, name)
		if err != nil {
			errs = append(errs, err)
		}
		secret := http.Header{}
		if err := parseHeaders(secret, optHeadersEnv, v, true); err != nil {
			errs = append(errs, err)
		}
		for name, values := range secret {
			for _, v := range values {
				s.header.Add(name, v)
				s.secrets = append(s.secrets, v)
			}
		}
	}
	if name, ok := opts[optTokenEnv]; ok {
		v, err := envValue(optTokenEnv, name)
		if err != nil {
			errs = append(errs, err)
		}
		if s.header.Get("Authorization") != "" {
			errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optTokenEnv, "an Authorization header is given already; give it once"))
		}
		s.header.Set("Authorization", "Bearer "+v)
	}

	if s.pingInterval, err = opts.Duration(optPingInterval, defaultPingInterval); err != nil {
		errs = append(errs, err)
	}
	if s.pongTimeout, err = positive(opts, optPongTimeout, defaultPongTimeout); err != nil {
		errs = append(errs, err)
	}
	if s.connectTimeout, err = positive(opts, optConnectTimeout, defaultConnectTimeout); err != nil {
		errs = append(errs, err)
	}
	if s.writeTimeout, err = positive(opts, optWriteTimeout, defaultWriteTimeout); err != nil {
		errs = append(errs, err)
	}
	if s.reconnectMin, err = positive(opts, optReconnectMin, defaultReconnectMin); err != nil {
		errs = append(errs, err)
	}
	if s.reconnectMax, err = positive(opts, optReconnectMax, defaultReconnectMax); err != nil {
		errs = append(errs, err)
	}
	if s.reconnectMin > 0 && s.reconnectMax > 0 && s.reconnectMax < s.reconnectMin {
		errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optReconnectMax, "%v is shorter than %q (%v)", s.reconnectMax, optReconnectMin, s.reconnectMin))
	}
	if s.maxPayload, err = opts.IntIn(optMaxPayload, defaultMaxPayload, 1, maxPayloadLimit); err != nil {
		errs = append(errs, err)
	}
	if s.maxInflight, err = opts.IntIn(optMaxInflight, defaultMaxInflight, 1, 1<<20); err != nil {
		errs = append(errs, err)
	}

	s.tlsCA = opts.String(optTLSCA, "")
	s.tlsCert = opts.String(optTLSCert, "")
	s.tlsKey = opts.String(optTLSKey, "")
	s.tlsServerName = opts.String(optTLSServerName, "")
	if s.tlsInsecure, err = opts.Bool(optTLSInsecure, false); err != nil {
		errs = append(errs, err)
	}
	if !s.tls {
		for _, k := range []string{optTLSCA, optTLSCert, optTLSKey, optTLSServerName, optTLSInsecure} {
			if _, ok := opts[k]; ok {
				errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, k, "needs a wss:// URL, got %s", u))
			}
		}
	}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optTLSCert, "%q and %q go together: give both or neither", optTLSCert, optTLSKey))
	}
	return s, errors.Join(errs...)
}

// positive reads a duration option that must be greater than 0.
func positive(opts sdk.Config, key string, def time.Duration) (time.Duration, error) {
	d, err := opts.Duration(key, def)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, sdk.OptionErrorf(sdk.KindInvalidConfig, key, "must be greater than 0")
	}
	return d, nil
}

// envValue reads the environment variable an "_env" option names.
func envValue(option, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, option, "empty variable name")
	}
	v, set := os.LookupEnv(name)
	if !set || v == "" {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, option, "environment variable %q is not set or empty", name)
	}
	return v, nil
}

// fieldPath splits a dotted JSON field path ("meta.topic").
func fieldPath(option, v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, option, "want a JSON field name or dotted path such as \"topic\" or \"meta.topic\", got \"\"")
	}
	parts := strings.Split(v, ".")
	for _, p := range parts {
		if p == "" {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, option, "%q has an empty part", v)
		}
	}
	return parts, nil
}

// reservedHeaders belong to the WebSocket handshake or have options of their own.
var reservedHeaders = []string{"Host", "Connection", "Upgrade", "Content-Length", "Transfer-Encoding",
	"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol"}

// parseHeaders adds "Name: value" pairs separated by ";" or newlines to h. secret
// keeps values out of messages.
func parseHeaders(h http.Header, option, text string, secret bool) error {
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == ';' || r == '\n' }) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !token(name) {
			shown := line
			if secret {
				shown = name
			}
			return sdk.OptionErrorf(sdk.KindInvalidConfig, option, "want \"Name: value\" pairs separated by \";\", got %q", shown)
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		for _, r := range reservedHeaders {
			if canon == r {
				return sdk.OptionErrorf(sdk.KindInvalidConfig, option, "header %q is set by the WebSocket handshake (subprotocols have option %q)", name, optSubprotocols)
			}
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return sdk.OptionErrorf(sdk.KindInvalidConfig, option, "header %q: value holds a control character", name)
		}
		h.Add(canon, value)
	}
	return nil
}

// token reports whether s is an HTTP token (RFC 9110), as header names and
// subprotocols must be.
func token(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return true
}

// linkTo are the options of one outbound link.
type linkTo struct {
	frame   string // "auto", "text" or "binary"
	confirm bool
}

// parseLinkTo reads an outbound link's options.
func parseLinkTo(cfg sdk.Config) (linkTo, error) {
	var l linkTo
	if err := cfg.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeLinkTo)...); err != nil {
		return l, err
	}
	var err error
	if l.frame, err = cfg.OneOf(optFrame, "auto", "auto", "text", "binary"); err != nil {
		return l, err
	}
	c, err := cfg.OneOf(optConfirm, "ping", "ping", "none")
	l.confirm = c == "ping"
	return l, err
}

// checkResource checks a link's resource: in per-connection mode a path under the
// connector URL (no wildcards), when routed a topic or pattern.
func checkResource(s *settings, dir sdk.Direction, resource string) error {
	if resource == "" {
		return sdk.Errorf(sdk.KindInvalidDestination, "empty resource")
	}
	if s.routed() {
		if dir == sdk.Outbound && sdk.HasWildcard(resource) {
			return sdk.Errorf(sdk.KindInvalidDestination, "link_to topic %q holds a wildcard", resource)
		}
		return sdk.ValidatePattern(resource)
	}
	if sdk.HasWildcard(resource) {
		return sdk.Errorf(sdk.KindInvalidDestination, "resource %q holds a wildcard; patterns need option %q (frames routed by a JSON field)", resource, optRouteField)
	}
	if strings.ContainsAny(resource, "?# \t\r\n") || strings.HasPrefix(resource, "/") {
		return sdk.Errorf(sdk.KindInvalidDestination, "resource %q is not a path under the connector URL (no leading \"/\", \"?\", \"#\" or spaces)", resource)
	}
	return nil
}
