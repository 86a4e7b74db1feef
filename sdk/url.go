package sdk

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// URL is a parsed AimDB URL: a connector address such as
// "mqtt://user:secret@127.0.0.1:1883" or a link such as "mqtt://sensors/+/temp".
//
// A link URL names a connector instance in its scheme and a resource (topic, group
// address, path) after "://"; a connector URL names hosts, ports and credentials.
// String masks the password, so a URL is safe to log.
type URL struct {
	// Scheme is the lower-cased part before "://" (a connector instance or plugin name).
	Scheme string
	// User and Password come from the userinfo part; Password is never printed by String.
	User     string
	Password string
	// Hosts lists the "host:port" authorities; several are separated by commas.
	Hosts []string
	// Path is the part after the authority, starting with "/" when present.
	Path string
	// Query holds the options after "?".
	Query url.Values

	resource string // everything after "://" up to "?", as written
}

// ParseURL parses s as "scheme://[user[:password]@]host[:port][,host[:port]...][/path][?query]".
// Errors name the URL (with its password masked) and what is wrong with it.
func ParseURL(s string) (URL, error) {
	var u URL
	i := strings.Index(s, "://")
	if i < 0 {
		return u, fmt.Errorf("url %q: missing \"://\" (want scheme://resource)", maskRaw(s))
	}
	scheme := strings.ToLower(s[:i])
	if err := CheckScheme(scheme); err != nil {
		return u, fmt.Errorf("url %q: %v", maskRaw(s), err)
	}
	u.Scheme = scheme
	rest := s[i+3:]
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		vals, err := url.ParseQuery(rest[q+1:])
		if err != nil {
			return URL{}, fmt.Errorf("url %q: bad query: %v", maskRaw(s), err)
		}
		u.Query = vals
		rest = rest[:q]
	}
	authority := rest
	if slash := strings.IndexByte(rest, '/'); slash >= 0 {
		authority, u.Path = rest[:slash], rest[slash:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo := authority[:at]
		authority = authority[at+1:]
		user, pass, _ := strings.Cut(userinfo, ":")
		var err error
		if u.User, err = url.PathUnescape(user); err != nil {
			return URL{}, fmt.Errorf("url %q: bad user name: %v", maskRaw(s), err)
		}
		if u.Password, err = url.PathUnescape(pass); err != nil {
			return URL{}, fmt.Errorf("url %q: bad password encoding", maskRaw(s))
		}
		rest = authority + u.Path
	}
	if authority == "" && u.Path == "" {
		return URL{}, fmt.Errorf("url %q: nothing after \"://\"", maskRaw(s))
	}
	if authority != "" {
		for _, h := range strings.Split(authority, ",") {
			if h == "" {
				return URL{}, fmt.Errorf("url %q: empty host in host list", maskRaw(s))
			}
			u.Hosts = append(u.Hosts, h)
		}
	}
	u.resource = rest
	return u, nil
}

// ParseConnectorURL parses a connector's own URL (a broker, gateway or base URL)
// strictly: on top of ParseURL, every host must be a host name, an IPv4 address or a
// bracketed IPv6 address, each with an optional port in 1..65535; the path must hold
// only valid percent-escapes; and no part may hold spaces or control characters.
// "mqtt://%zz" is refused here, before anything tries to connect to it.
func ParseConnectorURL(s string) (URL, error) {
	u, err := ParseURL(s)
	if err != nil {
		return u, err
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return URL{}, fmt.Errorf("url %q: holds a space or control character at byte %d", maskRaw(s), i)
	}
	for _, h := range u.Hosts {
		if err := checkHostPort(h); err != nil {
			return URL{}, fmt.Errorf("url %q: host %q: %v", maskRaw(s), h, err)
		}
	}
	if _, err := url.PathUnescape(u.Path); err != nil {
		return URL{}, fmt.Errorf("url %q: path %q: bad percent-escape", maskRaw(s), u.Path)
	}
	return u, nil
}

// checkHostPort checks one "host[:port]" of a connector URL.
func checkHostPort(h string) error {
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return fmt.Errorf("missing ']' after an IPv6 address")
		}
		host, port = h[1:end], h[end+1:]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return fmt.Errorf("%q is not an IPv6 address", host)
		}
		if port != "" && !strings.HasPrefix(port, ":") {
			return fmt.Errorf("unexpected %q after the IPv6 address", port)
		}
		port = strings.TrimPrefix(port, ":")
		if port == "" && strings.HasSuffix(h, ":") {
			return fmt.Errorf("empty port")
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
		if port == "" {
			return fmt.Errorf("empty port")
		}
	} else if h == "" {
		return fmt.Errorf("empty host")
	}
	if !strings.HasPrefix(h, "[") {
		for _, r := range host {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
				return fmt.Errorf("character %q is not allowed in a host name (letters, digits, '-', '.', '_'; IPv6 in brackets)", r)
			}
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return fmt.Errorf("port %q is not a number in 1..65535", port)
		}
	}
	return nil
}

// MustParseURL is ParseURL for constants in code and tests; it panics on error.
func MustParseURL(s string) URL {
	u, err := ParseURL(s)
	if err != nil {
		panic(err)
	}
	return u
}

// CheckScheme says what is wrong with s as a scheme (a connector kind's or instance's
// name: a lower-case letter, then letters, digits, '+', '-', '.', '_'), or nil.
func CheckScheme(s string) error {
	if s == "" {
		return fmt.Errorf("empty scheme")
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.' || r == '_')
		if !ok {
			return fmt.Errorf("scheme %q: must start with a letter and hold only letters, digits, '+', '-', '.', '_'", s)
		}
	}
	return nil
}

// Resource is everything after "://" and before "?", without userinfo: the topic,
// group address or path of a link ("sensors/+/temp", "1/2/3", "alerts/high").
func (u URL) Resource() string { return u.resource }

// Host returns the first host name (without port), or "" when there is none.
func (u URL) Host() string {
	if len(u.Hosts) == 0 {
		return ""
	}
	h, _, err := net.SplitHostPort(u.Hosts[0])
	if err != nil {
		return strings.Trim(u.Hosts[0], "[]")
	}
	return h
}

// Port returns the first host's port, or 0 when it names none.
func (u URL) Port() int {
	if len(u.Hosts) > 0 {
		if _, p, err := net.SplitHostPort(u.Hosts[0]); err == nil {
			n, _ := strconv.Atoi(p)
			return n
		}
	}
	return 0
}

// Addrs returns every host as "host:port", filling in defaultPort (the connector's
// own default for its scheme; 0 for none) where a host names no port.
// It fails when a port is not a number in 1..65535 or no port can be found.
func (u URL) Addrs(defaultPort int) ([]string, error) {
	out := make([]string, 0, len(u.Hosts))
	for _, h := range u.Hosts {
		host, port, err := net.SplitHostPort(h)
		if err != nil { // no port
			host, port = strings.Trim(h, "[]"), ""
		}
		if port == "" {
			if defaultPort == 0 {
				return nil, fmt.Errorf("url %s: host %q has no port and scheme %q has no default", u, h, u.Scheme)
			}
			port = strconv.Itoa(defaultPort)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("url %s: port %q is not a number in 1..65535", u, port)
		}
		if host == "" {
			return nil, fmt.Errorf("url %s: empty host", u)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("url %s: no host", u)
	}
	return out, nil
}

// String prints the URL with its password masked as "***".
func (u URL) String() string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	if u.User != "" || u.Password != "" {
		b.WriteString(url.PathEscape(u.User))
		if u.Password != "" {
			b.WriteString(":***")
		}
		b.WriteByte('@')
	}
	b.WriteString(u.resource)
	if len(u.Query) > 0 {
		b.WriteByte('?')
		b.WriteString(u.Query.Encode())
	}
	return b.String()
}

// maskRaw hides the password of a URL that did not parse, for error messages.
func maskRaw(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := len(rest)
	if slash := strings.IndexByte(rest, '/'); slash >= 0 {
		end = slash
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return s
	}
	return s[:i+3] + user + ":***" + rest[at:]
}
