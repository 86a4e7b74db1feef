package httpconn

import (
	"crypto/tls"
	"net/url"
	"strings"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// target is the connector's base URL, to which outbound links append their resource.
type target struct {
	origin   string      // "https://api.example.com"
	addr     string      // "api.example.com:443", for health probes
	basePath string      // escaped path without a trailing "/" ("/v1", or "")
	rawQuery string      // the base URL's query, sent with every request
	tls      *tls.Config // nil for http://
	scheme   string
}

// hasURL reports whether the connector block set a url: without one, the host (and
// the plugin SDK) pass a URL that holds only the scheme.
func hasURL(u sdk.URL) bool { return len(u.Hosts) > 0 || u.Resource() != "" }

// parseBase checks the connector URL: http or https, one host, no credentials.
func parseBase(u sdk.URL) (*target, error) {
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: scheme %q is not http or https", u, u.Scheme))
	}
	if u.User != "" || u.Password != "" {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: credentials do not belong in the url; use options %q or %q and %q", u, optTokenEnv, optBasicUser, optBasicPassEnv))
	}
	if len(u.Hosts) != 1 {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: want exactly one host, got %d", u, len(u.Hosts)))
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	addrs, err := u.Addrs(port)
	if err != nil {
		return nil, sdk.AtOption("url", err)
	}
	parsed, err := url.Parse(u.Scheme + "://" + u.Hosts[0] + u.Path)
	if err != nil {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: %v", u, errorText(err)))
	}
	return &target{
		addr:     addrs[0],
		scheme:   u.Scheme,
		origin:   u.Scheme + "://" + parsed.Host,
		basePath: strings.TrimRight(parsed.EscapedPath(), "/"),
		rawQuery: u.Query.Encode(),
	}, nil
}

// errorText is the message of a net/url error without the URL it repeats.
func errorText(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

// join returns the request URL for destination and the same without its query, for
// messages (the query may carry an API key). Each "/"-separated level of destination
// is escaped on its own, so "a b/c?d" becomes "/a%20b/c%3Fd"; empty, "." and ".."
// levels are refused because servers would normalise them away.
func (t *target) join(destination string) (full, shown string, err error) {
	p := t.basePath
	if dest := strings.TrimPrefix(destination, "/"); dest != "" {
		levels := strings.Split(dest, "/")
		var b strings.Builder
		b.WriteString(t.basePath)
		for _, l := range levels {
			if l == "" || l == "." || l == ".." {
				return "", "", sdk.Errorf(sdk.KindInvalidDestination, "destination %q: empty, \".\" and \"..\" path levels are not allowed", destination)
			}
			b.WriteByte('/')
			b.WriteString(url.PathEscape(l))
		}
		p = b.String()
	}
	if p == "" {
		p = "/"
	}
	shown = t.origin + p
	full = shown
	if t.rawQuery != "" {
		full += "?" + t.rawQuery
	}
	return full, shown, nil
}
