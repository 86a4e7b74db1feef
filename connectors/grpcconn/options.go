package grpcconn

import (
	"crypto/tls"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Option names.
const (
	optProtoFiles    = "proto_files"
	optImportPaths   = "import_paths"
	optLoadBalancing = "load_balancing"
	optTimeout       = "timeout"
	optConnectTO     = "connect_timeout"
	optMetadata      = "metadata"
	optTokenEnv      = "token_env"
	optMaxMessage    = "max_message_size"
	optReconnectMin  = "reconnect_min"
	optReconnectMax  = "reconnect_max"
	optTLSCA         = "tls_ca_file"
	optTLSCert       = "tls_cert_file"
	optTLSKey        = "tls_key_file"
	optTLSServerName = "tls_server_name"
	optPayloadField  = "payload_field"
	optRequest       = "request"
	optEmitDefaults  = "emit_defaults"
)

// Defaults.
const (
	defaultTimeout    = 10 * time.Second
	defaultConnectTO  = 5 * time.Second
	defaultMaxMessage = 4 << 20 // grpc-go's default receive limit, so servers take what we send
	defaultReconnMin  = 100 * time.Millisecond
	defaultReconnMax  = 30 * time.Second
	defaultPort       = 443
)

// MaxPayload is the largest value a link_to takes: the default max_message_size less
// room for the field tag and length that wrap a raw value (payload_field).
const MaxPayload = defaultMaxMessage - 16

// optionDocs documents every option; the known-option checks are derived from it, so
// an option cannot be accepted without being documented.
var optionDocs = []sdk.OptionDoc{
	{Name: optProtoFiles, Scope: sdk.ScopeConnector, Doc: `.proto files (comma-separated) that describe the services; without it the descriptors come from the server's reflection service (grpc.reflection.v1)`},
	{Name: optImportPaths, Scope: sdk.ScopeConnector, Doc: "directories (comma-separated) that proto_files and their imports are found in; google/protobuf/*.proto are built in", Default: "the working directory"},
	{Name: optLoadBalancing, Scope: sdk.ScopeConnector, Doc: "how calls spread over the URL's addresses: round_robin or pick_first", Default: "round_robin"},
	{Name: optTimeout, Scope: sdk.ScopeConnector, Doc: "deadline of one call (link_to) and of one reflection lookup", Default: defaultTimeout.String()},
	{Name: optConnectTO, Scope: sdk.ScopeConnector, Doc: "how long one connection attempt may take before it counts as failed", Default: defaultConnectTO.String()},
	{Name: optMetadata, Scope: sdk.ScopeConnector, Doc: `metadata sent with every call, "name: value" pairs separated by ";" or newlines`},
	{Name: optTokenEnv, Scope: sdk.ScopeConnector, Doc: `environment variable holding a bearer token, sent as "authorization: Bearer <token>" with every call`},
	{Name: optMaxMessage, Scope: sdk.ScopeConnector, Doc: "largest encoded message sent or received, in bytes; a larger value fails as message too large", Default: strconv.Itoa(defaultMaxMessage)},
	{Name: optReconnectMin, Scope: sdk.ScopeConnector, Doc: "first delay before connecting again and before re-opening a stream; doubles (with jitter) after each failure", Default: defaultReconnMin.String()},
	{Name: optReconnectMax, Scope: sdk.ScopeConnector, Doc: "longest delay between reconnects", Default: defaultReconnMax.String()},
	{Name: optTLSCA, Scope: sdk.ScopeConnector, Doc: "PEM file of the CA(s) that sign the server's certificate (grpcs://); default: the system roots"},
	{Name: optTLSCert, Scope: sdk.ScopeConnector, Doc: "PEM client certificate for mutual TLS (needs tls_key_file)"},
	{Name: optTLSKey, Scope: sdk.ScopeConnector, Doc: "PEM private key of tls_cert_file"},
	{Name: optTLSServerName, Scope: sdk.ScopeConnector, Doc: "name to verify the server's certificate against, when it differs from the URL's host"},
	{Name: optPayloadField, Scope: sdk.ScopeLinkTo, Doc: "bytes or string field of the request that takes the value as it is; without it the value is the whole request in JSON (protojson)"},
	{Name: optPayloadField, Scope: sdk.ScopeLinkFrom, Doc: "bytes or string field of each streamed message that is the value; without it the value is the whole message in JSON (protojson)"},
	{Name: optRequest, Scope: sdk.ScopeLinkFrom, Doc: "the request that opens the server stream, in JSON", Default: "{}"},
	{Name: optEmitDefaults, Scope: sdk.ScopeLinkFrom, Doc: "JSON values include fields that hold their default value (0, \"\", false)", Default: "false"},
}

// settings are an instance's parsed URL and options.
type settings struct {
	addrs          []string
	tls            bool
	protoFiles     []string
	importPaths    []string
	balancing      string
	timeout        time.Duration
	connectTimeout time.Duration
	md             metadata.MD
	maxMessage     int
	backoff        sdk.Backoff
	tlsCA          string
	tlsCert        string
	tlsKey         string
	tlsServerName  string
}

// parseSettings checks the connector URL (grpc://host:port[,host:port...] or
// grpcs://...) and options. Every error is an OptionError naming what is wrong.
func parseSettings(u sdk.URL, opts sdk.Config) (*settings, error) {
	s := &settings{}
	switch u.Scheme {
	case "grpc":
	case "grpcs":
		s.tls = true
	default:
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: scheme %q is not grpc:// or grpcs://", u, u.Scheme))
	}
	if len(u.Query) > 0 {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: query options are not supported; put them in the connector block", u))
	}
	if u.Path != "" && u.Path != "/" {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: a connector URL names servers only, not a method (%q); methods go in link_to/link_from", u, u.Path))
	}
	if u.User != "" || u.Password != "" {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: gRPC has no user:password in the address; use token_env or metadata", u))
	}
	if len(u.Hosts) == 0 {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: names no server (want grpc://host:port)", u))
	}
	if err := opts.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeConnector)...); err != nil {
		return nil, err
	}
	var err error
	if s.addrs, err = u.Addrs(defaultPortFor(s.tls)); err != nil {
		return nil, sdk.AtOption("url", err)
	}
	s.protoFiles = list(opts.String(optProtoFiles, ""))
	if _, set := opts[optProtoFiles]; set && len(s.protoFiles) == 0 {
		return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optProtoFiles, "names no file; leave it out to use server reflection")
	}
	for _, f := range s.protoFiles {
		if !strings.HasSuffix(f, ".proto") {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optProtoFiles, "%q is not a .proto file", f)
		}
	}
	s.importPaths = list(opts.String(optImportPaths, ""))
	if len(s.importPaths) > 0 && len(s.protoFiles) == 0 {
		return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optImportPaths, "needs proto_files")
	}
	for _, d := range s.importPaths {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optImportPaths, "%q is not a directory", d)
		}
	}
	if s.balancing, err = opts.OneOf(optLoadBalancing, "round_robin", "round_robin", "pick_first"); err != nil {
		return nil, err
	}
	if s.timeout, err = positive(opts, optTimeout, defaultTimeout); err != nil {
		return nil, err
	}
	if s.connectTimeout, err = positive(opts, optConnectTO, defaultConnectTO); err != nil {
		return nil, err
	}
	if s.md, err = parseMetadata(opts.String(optMetadata, "")); err != nil {
		return nil, err
	}
	if name, ok := opts[optTokenEnv]; ok {
		tok, err := secretFromEnv(optTokenEnv, name)
		if err != nil {
			return nil, err
		}
		s.md.Set("authorization", "Bearer "+tok)
	}
	if s.maxMessage, err = opts.IntIn(optMaxMessage, defaultMaxMessage, 1, 1<<30); err != nil {
		return nil, err
	}
	if s.backoff.Min, err = positive(opts, optReconnectMin, defaultReconnMin); err != nil {
		return nil, err
	}
	if s.backoff.Max, err = positive(opts, optReconnectMax, defaultReconnMax); err != nil {
		return nil, err
	}
	if s.backoff.Max < s.backoff.Min {
		return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optReconnectMax, "%v is shorter than %s (%v)", s.backoff.Max, optReconnectMin, s.backoff.Min)
	}
	s.tlsCA, s.tlsCert, s.tlsKey = opts.String(optTLSCA, ""), opts.String(optTLSCert, ""), opts.String(optTLSKey, "")
	s.tlsServerName = opts.String(optTLSServerName, "")
	if !s.tls {
		for _, o := range []string{optTLSCA, optTLSCert, optTLSKey, optTLSServerName} {
			if _, set := opts[o]; set {
				return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, o, "needs a grpcs:// url")
			}
		}
	}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optTLSCert, "%s and %s go together", optTLSCert, optTLSKey)
	}
	return s, nil
}

// defaultPortFor is the port an address without one gets: 443 for grpcs, 80 for grpc.
func defaultPortFor(tls bool) int {
	if tls {
		return defaultPort
	}
	return 80
}

// tlsConfig reads the TLS files the options name.
func (s *settings) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.tlsServerName}
	if s.tlsCA != "" {
		pool, err := sdk.CertPool(optTLSCA, s.tlsCA)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if s.tlsCert != "" {
		pair, err := sdk.KeyPair(optTLSCert, s.tlsCert, optTLSKey, s.tlsKey)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// positive reads a duration option that must be above zero.
func positive(opts sdk.Config, key string, def time.Duration) (time.Duration, error) {
	d, err := opts.Duration(key, def)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, sdk.OptionErrorf(sdk.KindInvalidConfig, key, "want a duration above zero, got %v", d)
	}
	return d, nil
}

// list splits a comma-separated option into its trimmed, non-empty parts.
func list(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// reservedMetadata are keys set by gRPC itself or by a dedicated option.
var reservedMetadata = map[string]string{
	"authorization": "use token_env, which keeps the token out of the configuration",
	"content-type":  "gRPC sets it",
	"te":            "gRPC sets it",
	"user-agent":    "gRPC sets it",
	"grpc-timeout":  "use timeout",
}

// parseMetadata parses "name: value" pairs separated by ";" or newlines.
func parseMetadata(v string) (metadata.MD, error) {
	md := metadata.MD{}
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '\n' }) {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, ":")
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if !ok || !validKey(name) {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optMetadata, "%q is not \"name: value\" with a valid metadata name (lower-case letters, digits, '-', '_', '.')", part)
		}
		if why, bad := reservedMetadata[name]; bad || strings.HasPrefix(name, "grpc-") || strings.HasPrefix(name, ":") {
			if why == "" {
				why = "gRPC reserves it"
			}
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optMetadata, "%s cannot be set here (%s)", name, why)
		}
		if strings.HasSuffix(name, "-bin") {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optMetadata, "%s: binary (-bin) metadata is not supported", name)
		}
		for _, r := range value {
			if r < 0x20 || r > 0x7e {
				return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optMetadata, "%s: the value holds a character outside printable ASCII", name)
			}
		}
		md.Append(name, value)
	}
	return md, nil
}

// validKey reports whether s is a valid gRPC metadata key.
func validKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// secretFromEnv returns the value of the environment variable that option names.
// Errors name the option and the variable, never a value.
func secretFromEnv(option, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, option, "want the name of an environment variable")
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, option, "environment variable %s is not set or empty", name)
	}
	if strings.ContainsAny(v, "\r\n") {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, option, "environment variable %s holds a line break", name)
	}
	return v, nil
}

// method is a link's resource, "pkg.Service/Method", split.
type method struct {
	service string // full name of the service: "pkg.Service"
	name    string // method name: "Method"
}

// fullMethod is the gRPC path: "/pkg.Service/Method".
func (m method) fullMethod() string { return "/" + m.service + "/" + m.name }

func (m method) String() string { return m.service + "/" + m.name }

// parseMethod checks a link's resource.
func parseMethod(resource string) (method, error) {
	r := strings.TrimPrefix(resource, "/")
	svc, name, ok := strings.Cut(r, "/")
	if !ok || svc == "" || name == "" || strings.Contains(name, "/") {
		return method{}, sdk.Errorf(sdk.KindInvalidDestination, "%q is not \"package.Service/Method\"", resource)
	}
	for _, part := range strings.Split(svc, ".") {
		if !ident(part) {
			return method{}, sdk.Errorf(sdk.KindInvalidDestination, "%q: %q is not a full service name such as \"pkg.v1.Service\"", resource, svc)
		}
	}
	if !ident(name) {
		return method{}, sdk.Errorf(sdk.KindInvalidDestination, "%q: %q is not a method name", resource, name)
	}
	return method{service: svc, name: name}, nil
}

// ident reports whether s is a protobuf identifier.
func ident(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// linkOptions are one link's parsed options.
type linkOptions struct {
	payloadField string // "" means JSON
	request      string // link_from: the JSON request that opens the stream
	emitDefaults bool
}

// parseLink checks one link's resource and options, without descriptors.
func parseLink(dir sdk.Direction, resource string, cfg sdk.Config) (method, linkOptions, error) {
	var lo linkOptions
	m, err := parseMethod(resource)
	if err != nil {
		return m, lo, err
	}
	scope := sdk.ScopeLinkTo
	if dir == sdk.Inbound {
		scope = sdk.ScopeLinkFrom
	}
	if err := cfg.Unknown(sdk.OptionNames(optionDocs, scope)...); err != nil {
		return m, lo, err
	}
	lo.payloadField = strings.TrimSpace(cfg.String(optPayloadField, ""))
	if _, set := cfg[optPayloadField]; set && !ident(lo.payloadField) {
		return m, lo, sdk.OptionErrorf(sdk.KindInvalidConfig, optPayloadField, "%q is not a field name", lo.payloadField)
	}
	if dir == sdk.Inbound {
		lo.request = strings.TrimSpace(cfg.String(optRequest, "{}"))
		if lo.emitDefaults, err = cfg.Bool(optEmitDefaults, false); err != nil {
			return m, lo, err
		}
	}
	return m, lo, nil
}
