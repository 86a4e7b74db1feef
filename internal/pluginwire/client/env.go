package client

import (
	"os"
	"slices"
	"strings"
)

// passedEnv are the host's environment variables every plugin process gets, besides
// go-plugin's own (magic cookie, protocol versions, ports, socket directory), the log
// level, and the variables its instances name in "_env" options (Options.Env). None
// holds a secret by convention; each is there because a plugin can need it:
//   - PATH, HOME, TMPDIR: finding programs, a home and a temp directory (go-plugin
//     puts its socket in TMPDIR when the host names no socket directory);
//   - TZ, LANG and LC_*: time zone and locale of log lines and messages;
//   - SSL_CERT_FILE, SSL_CERT_DIR: where Go finds the system's CA certificates for
//     TLS connections (mqtts://, https://, Kafka TLS);
//   - HTTP_PROXY, HTTPS_PROXY, NO_PROXY (either case): the HTTP connector's client
//     honours them, as every Go HTTP client does;
//   - GOGC, GOMEMLIMIT, GOMAXPROCS, GODEBUG, GOTRACEBACK, GORACE, GOCOVERDIR: settings
//     of the Go runtime the operator chose for every process.
var passedEnv = []string{
	"PATH", "HOME", "TMPDIR", "TZ", "LANG",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK", "GORACE", "GOCOVERDIR",
}

// passedPrefixes are prefixes of variable names passed like passedEnv.
var passedPrefixes = []string{"LC_"}

// baseEnv returns the entries of environ (os.Environ's form) a plugin gets.
func baseEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if slices.Contains(passedEnv, name) || slices.ContainsFunc(passedPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			out = append(out, kv)
		}
	}
	return out
}

// LookupEnv returns "NAME=value" for each of names set in the host's environment,
// for Options.Env: the variables a plugin's instances name in "_env" options.
func LookupEnv(names []string) []string {
	var out []string
	for _, n := range names {
		if v, ok := os.LookupEnv(n); ok {
			out = append(out, n+"="+v)
		}
	}
	return out
}
