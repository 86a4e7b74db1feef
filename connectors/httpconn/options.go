package httpconn

import (
	"crypto/tls"
	"errors"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Option names. Connector-scope options go in the connector block; the link options
// in a link_to or link_from block.
const (
	optMethod          = "method"
	optContentType     = "content_type"
	optHeaders         = "headers"
	optTimeout         = "timeout"
	optMaxAttempts     = "max_attempts"
	optBackoffInitial  = "backoff_initial"
	optBackoffMax      = "backoff_max"
	optRetryAfterMax   = "retry_after_max"
	optTokenEnv        = "token_env"
	optBasicUser       = "basic_user"
	optBasicPassEnv    = "basic_password_env"
	optTLSCA           = "tls_ca"
	optTLSCert         = "tls_cert"
	optTLSKey          = "tls_key"
	optListen          = "listen"
	optInboundTokenEnv = "inbound_token_env"
	optInboundMaxBody  = "inbound_max_body"
	optInboundTimeout  = "inbound_timeout"
	optListenTLSCert   = "listen_tls_cert"
	optListenTLSKey    = "listen_tls_key"
	optAllowGet        = "allow_get"
)

// Defaults, as values and as the text the option docs show.
const (
	defaultMethod         = http.MethodPost
	defaultContentType    = "application/json"
	defaultTimeout        = 10 * time.Second
	defaultMaxAttempts    = 5
	defaultBackoffInitial = 200 * time.Millisecond
	defaultBackoffMax     = 10 * time.Second
	defaultRetryAfterMax  = time.Minute
	defaultInboundMaxBody = 1 << 20
	defaultInboundTimeout = 10 * time.Second
	maxAttemptsLimit      = 100
)

// optionDocs documents every option; the known-option checks are derived from it, so
// an option cannot be accepted without being documented.
var optionDocs = []sdk.OptionDoc{
	{Name: optMethod, Scope: sdk.ScopeConnector, Default: defaultMethod, Doc: "HTTP method of outbound requests: POST or PUT"},
	{Name: optContentType, Scope: sdk.ScopeConnector, Default: defaultContentType, Doc: "Content-Type of outbound requests and of GET replies"},
	{Name: optHeaders, Scope: sdk.ScopeConnector, Doc: `extra outbound headers, "Name: value" pairs separated by ";" or newlines`},
	{Name: optTimeout, Scope: sdk.ScopeConnector, Default: defaultTimeout.String(), Doc: "time limit of one outbound attempt"},
	{Name: optMaxAttempts, Scope: sdk.ScopeConnector, Default: strconv.Itoa(defaultMaxAttempts), Doc: "outbound attempts per value, first try included (1..100)"},
	{Name: optBackoffInitial, Scope: sdk.ScopeConnector, Default: defaultBackoffInitial.String(), Doc: "wait before the first retry; doubles each retry, with jitter"},
	{Name: optBackoffMax, Scope: sdk.ScopeConnector, Default: defaultBackoffMax.String(), Doc: "longest wait between retries"},
	{Name: optRetryAfterMax, Scope: sdk.ScopeConnector, Default: defaultRetryAfterMax.String(), Doc: "longest Retry-After the connector waits; a longer one ends the retries"},
	{Name: optTokenEnv, Scope: sdk.ScopeConnector, Doc: "environment variable holding the outbound bearer token"},
	{Name: optBasicUser, Scope: sdk.ScopeConnector, Doc: "user name for outbound basic auth (needs basic_password_env)"},
	{Name: optBasicPassEnv, Scope: sdk.ScopeConnector, Doc: "environment variable holding the outbound basic auth password"},
	{Name: optTLSCA, Scope: sdk.ScopeConnector, Doc: "PEM file of CA certificates trusted for https:// (default: the system roots)"},
	{Name: optTLSCert, Scope: sdk.ScopeConnector, Doc: "PEM client certificate for https:// (needs tls_key)"},
	{Name: optTLSKey, Scope: sdk.ScopeConnector, Doc: "PEM private key of tls_cert"},
	{Name: optListen, Scope: sdk.ScopeConnector, Doc: `inbound listen address "host:port"; needed by link_from`},
	{Name: optInboundTokenEnv, Scope: sdk.ScopeConnector, Doc: "environment variable holding the bearer token inbound requests must send"},
	{Name: optInboundMaxBody, Scope: sdk.ScopeConnector, Default: strconv.Itoa(defaultInboundMaxBody), Doc: "largest inbound body in bytes; larger gets 413"},
	{Name: optInboundTimeout, Scope: sdk.ScopeConnector, Default: defaultInboundTimeout.String(), Doc: "how long an inbound request waits for the host; then 503"},
	{Name: optListenTLSCert, Scope: sdk.ScopeConnector, Doc: "PEM certificate file: serve the listener with TLS (needs listen_tls_key)"},
	{Name: optListenTLSKey, Scope: sdk.ScopeConnector, Doc: "PEM private key of listen_tls_cert"},

	{Name: optMethod, Scope: sdk.ScopeLinkTo, Doc: "overrides the connector's method for this link"},
	{Name: optContentType, Scope: sdk.ScopeLinkTo, Doc: "overrides the connector's content_type for this link"},
	{Name: optHeaders, Scope: sdk.ScopeLinkTo, Doc: "extra headers for this link, added to (and overriding) the connector's"},
	{Name: optTimeout, Scope: sdk.ScopeLinkTo, Doc: "overrides the connector's timeout for this link"},
	{Name: optMaxAttempts, Scope: sdk.ScopeLinkTo, Doc: "overrides the connector's max_attempts for this link"},
	{Name: optAllowGet, Scope: sdk.ScopeLinkTo, Default: "false", Doc: "GET /RESOURCE on the listener returns the record's latest value"},

	{Name: optAllowGet, Scope: sdk.ScopeLinkFrom, Default: "false", Doc: "GET /RESOURCE on the listener returns the record's latest value"},
	{Name: optContentType, Scope: sdk.ScopeLinkFrom, Doc: "Content-Type of GET replies for this link (default: the connector's content_type)"},
}

// outSettings says how to send one value; link options override the connector's.
type outSettings struct {
	method         string
	contentType    string
	headers        http.Header
	timeout        time.Duration
	maxAttempts    int
	backoffInitial time.Duration
	backoffMax     time.Duration
	retryAfterMax  time.Duration
}

// inSettings configures the inbound listener.
type inSettings struct {
	listen  string // "" when there is no listener
	token   string // bearer token inbound requests must carry; secret
	maxBody int64
	timeout time.Duration
	tls     *tls.Config // nil: plain HTTP
}

// auth is the outbound credential, read from the environment; secret.
type auth struct {
	token      string
	basicUser  string
	basicPass  string
	basicIsSet bool
}

// apply sets the Authorization header of req.
func (a auth) apply(req *http.Request) {
	switch {
	case a.token != "":
		req.Header.Set("Authorization", "Bearer "+a.token)
	case a.basicIsSet:
		req.SetBasicAuth(a.basicUser, a.basicPass)
	}
}

// settings is a connector's parsed configuration.
type settings struct {
	base *target // nil when the connector has no url (inbound only)
	out  outSettings
	auth auth
	in   inSettings
}

// parseSettings checks the connector URL and options and reads the secrets they name
// from the environment. Every problem is reported, each naming its option.
func parseSettings(u sdk.URL, opts sdk.Config) (*settings, error) {
	var errs errList
	errs.add(opts.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeConnector)...))
	s := &settings{}

	if hasURL(u) {
		base, err := parseBase(u)
		errs.add(err)
		s.base = base
	}

	var err error
	s.out, err = parseOut(opts, outSettings{
		method: defaultMethod, contentType: defaultContentType, timeout: defaultTimeout,
		maxAttempts: defaultMaxAttempts,
	})
	errs.add(err)
	s.out.backoffInitial, err = positiveDuration(opts, optBackoffInitial, defaultBackoffInitial)
	errs.add(err)
	s.out.backoffMax, err = positiveDuration(opts, optBackoffMax, defaultBackoffMax)
	errs.add(err)
	if err == nil && s.out.backoffMax < s.out.backoffInitial {
		errs.add(sdk.OptionErrorf(sdk.KindInvalidConfig, optBackoffMax, "%s is shorter than %s %s", s.out.backoffMax, optBackoffInitial, s.out.backoffInitial))
	}
	s.out.retryAfterMax, err = opts.Duration(optRetryAfterMax, defaultRetryAfterMax)
	errs.add(err)

	s.auth, err = parseAuth(opts)
	errs.add(err)
	if !hasURL(u) {
		for _, o := range []string{optTokenEnv, optBasicUser, optBasicPassEnv, optTLSCA, optTLSCert, optTLSKey} {
			if _, set := opts[o]; set {
				errs.add(sdk.AtOption(o, sdk.Errorf(sdk.KindInvalidConfig, "option %q needs the connector's url", o)))
			}
		}
	} else if s.base != nil {
		s.base.tls, err = clientTLS(opts, s.base.scheme)
		errs.add(err)
	}

	s.in, err = parseIn(opts)
	errs.add(err)
	return s, errs.err()
}

// parseOut reads the outbound options in opts over def (the connector's settings for a link).
func parseOut(opts sdk.Config, def outSettings) (outSettings, error) {
	var errs errList
	s := def
	if v, ok := opts[optMethod]; ok {
		s.method = strings.ToUpper(strings.TrimSpace(v))
		if s.method != http.MethodPost && s.method != http.MethodPut {
			errs.add(sdk.OptionErrorf(sdk.KindInvalidConfig, optMethod, "%q is not one of POST, PUT", v))
		}
	}
	if v, ok := opts[optContentType]; ok {
		var err error
		s.contentType, err = parseContentType(v)
		errs.add(err)
	}
	if v, ok := opts[optHeaders]; ok {
		h, err := parseHeaders(v)
		errs.add(err)
		merged := def.headers.Clone()
		if merged == nil {
			merged = http.Header{}
		}
		for k, vs := range h {
			merged[k] = vs
		}
		s.headers = merged
	}
	var err error
	s.timeout, err = positiveDuration(opts, optTimeout, def.timeout)
	errs.add(err)
	s.maxAttempts, err = opts.IntIn(optMaxAttempts, def.maxAttempts, 1, maxAttemptsLimit)
	errs.add(err)
	return s, errs.err()
}

// parseContentType checks a content_type option: a media type, as in "application/json".
func parseContentType(v string) (string, error) {
	if _, _, err := mime.ParseMediaType(v); err != nil {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, optContentType, "want a media type such as \"application/json\", got %q", v)
	}
	return strings.TrimSpace(v), nil
}

// reservedHeaders are set by dedicated options or by the HTTP client; setting them
// through "headers" would be wrong or would put a secret in the config file.
var reservedHeaders = map[string]string{
	"Authorization":     "use token_env or basic_user and basic_password_env",
	"Content-Type":      "use content_type",
	"Content-Length":    "the client sets it",
	"Host":              "it comes from url",
	"Transfer-Encoding": "the client sets it",
	"Connection":        "the client sets it",
}

// parseHeaders parses "Name: value" pairs separated by ";" or newlines.
func parseHeaders(v string) (http.Header, error) {
	h := http.Header{}
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '\n' }) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !validHeaderName(name) {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optHeaders, "%q is not \"Name: value\" with a valid header name", part)
		}
		if strings.ContainsAny(value, "\r\n") {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optHeaders, "header %s has a line break in its value", name)
		}
		name = http.CanonicalHeaderKey(name)
		if why, bad := reservedHeaders[name]; bad {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optHeaders, "header %s cannot be set here (%s)", name, why)
		}
		h.Add(name, value)
	}
	return h, nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)
		if !ok {
			return false
		}
	}
	return true
}

// parseAuth reads the outbound credential named by token_env, or basic_user and
// basic_password_env.
func parseAuth(opts sdk.Config) (auth, error) {
	var a auth
	tokenEnv, hasToken := opts[optTokenEnv]
	user, hasUser := opts[optBasicUser]
	passEnv, hasPass := opts[optBasicPassEnv]
	switch {
	case hasToken && (hasUser || hasPass):
		return a, sdk.AtOption(optTokenEnv, sdk.Errorf(sdk.KindInvalidConfig, "options %q and %q: set one kind of outbound auth, not both", optTokenEnv, optBasicUser))
	case hasToken:
		tok, err := secretFromEnv(optTokenEnv, tokenEnv)
		a.token = tok
		return a, err
	case hasUser != hasPass:
		return a, sdk.AtOption(optBasicUser, sdk.Errorf(sdk.KindInvalidConfig, "options %q and %q go together", optBasicUser, optBasicPassEnv))
	case hasUser:
		if user == "" || strings.Contains(user, ":") {
			return a, sdk.OptionErrorf(sdk.KindInvalidConfig, optBasicUser, "want a user name without ':'")
		}
		pass, err := secretFromEnv(optBasicPassEnv, passEnv)
		a.basicUser, a.basicPass, a.basicIsSet = user, pass, true
		return a, err
	}
	return a, nil
}

// secretFromEnv returns the value of the environment variable that option names.
// Errors name the option and the variable, never a value.
func secretFromEnv(option, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, option, "want the name of an environment variable")
	}
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, option, "environment variable %s is not set", name)
	}
	if v == "" {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, option, "environment variable %s is empty", name)
	}
	return v, nil
}

// parseIn reads the inbound listener options.
func parseIn(opts sdk.Config) (inSettings, error) {
	var errs errList
	s := inSettings{listen: strings.TrimSpace(opts[optListen])}
	if _, set := opts[optListen]; set {
		errs.add(checkListen(s.listen))
	}
	max, err := opts.IntIn(optInboundMaxBody, defaultInboundMaxBody, 1, 1<<30)
	errs.add(err)
	s.maxBody = int64(max)
	s.timeout, err = positiveDuration(opts, optInboundTimeout, defaultInboundTimeout)
	errs.add(err)
	if name, ok := opts[optInboundTokenEnv]; ok {
		s.token, err = secretFromEnv(optInboundTokenEnv, name)
		errs.add(err)
	}
	if s.listen != "" {
		s.tls, err = listenerTLS(opts)
		errs.add(err)
	} else {
		for _, o := range []string{optInboundTokenEnv, optInboundMaxBody, optInboundTimeout, optListenTLSCert, optListenTLSKey} {
			if _, set := opts[o]; set {
				errs.add(sdk.AtOption(o, sdk.Errorf(sdk.KindInvalidConfig, "option %q needs option %q", o, optListen)))
			}
		}
	}
	return s, errs.err()
}

// checkListen checks a "host:port" listen address.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return sdk.OptionErrorf(sdk.KindInvalidConfig, optListen, "%q is not \"host:port\" (for example \"127.0.0.1:8080\")", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return sdk.OptionErrorf(sdk.KindInvalidConfig, optListen, "port %q is not a number in 0..65535", port)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /:") {
		return sdk.OptionErrorf(sdk.KindInvalidConfig, optListen, "host %q is not a host name or IP address", host)
	}
	return nil
}

// positiveDuration is Config.Duration that also refuses zero.
func positiveDuration(opts sdk.Config, key string, def time.Duration) (time.Duration, error) {
	d, err := opts.Duration(key, def)
	if err == nil && d <= 0 {
		return 0, sdk.OptionErrorf(sdk.KindInvalidConfig, key, "want a duration above zero, got %q", opts[key])
	}
	return d, err
}

// errList gathers configuration errors so that all of them are reported at once.
type errList []error

func (l *errList) add(err error) {
	if err != nil {
		*l = append(*l, err)
	}
}

// err returns nil or all errors joined.
func (l errList) err() error { return errors.Join(l...) }
