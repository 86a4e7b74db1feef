package httpconn

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

func validate(rawURL string, opts sdk.Config, links ...sdk.LinkSpec) error {
	u := sdk.URL{Scheme: "http"} // what the host passes for a connector block without url
	if rawURL != "" {
		u = sdk.MustParseURL(rawURL)
	}
	return Builder{}.ValidateConfig(u, opts, links)
}

func TestValidateConfig(t *testing.T) {
	t.Setenv("HTTPCONN_TEST_SET", "value-that-must-not-leak")
	linkTo := func(res string, cfg sdk.Config) sdk.LinkSpec {
		return sdk.LinkSpec{Direction: sdk.Outbound, Resource: res, Config: cfg, Record: "alerts"}
	}
	linkFrom := func(res string, cfg sdk.Config) sdk.LinkSpec {
		return sdk.LinkSpec{Direction: sdk.Inbound, Resource: res, Config: cfg, Record: "cmd.light"}
	}
	for _, tc := range []struct {
		name  string
		url   string
		opts  sdk.Config
		links []sdk.LinkSpec
		want  []string // substrings of the error; none: valid
	}{
		{"outbound ok", "https://api.example.com/v1", sdk.Config{optTokenEnv: "HTTPCONN_TEST_SET", optMethod: "PUT"},
			[]sdk.LinkSpec{linkTo("alerts/high", sdk.Config{optAllowGet: "true", optHeaders: "X-A: 1"})}, nil},
		{"inbound ok", "", sdk.Config{optListen: "127.0.0.1:8080", optInboundTokenEnv: "HTTPCONN_TEST_SET"},
			[]sdk.LinkSpec{linkFrom("sensors/+/temp", sdk.Config{optAllowGet: "true"})}, nil},
		{"bad method", "http://127.0.0.1:9000", sdk.Config{optMethod: "PATCH"}, nil, []string{`option "method"`, `"PATCH"`}},
		{"missing env", "http://127.0.0.1:9000", sdk.Config{optTokenEnv: "HTTPCONN_TEST_UNSET"}, nil, []string{`option "token_env"`, "HTTPCONN_TEST_UNSET is not set"}},
		{"missing inbound env", "", sdk.Config{optListen: "127.0.0.1:1", optInboundTokenEnv: "HTTPCONN_TEST_UNSET"}, nil, []string{`option "inbound_token_env"`}},
		{"bad listen", "", sdk.Config{optListen: "localhost"}, nil, []string{`option "listen"`, `"localhost"`}},
		{"bad listen port", "", sdk.Config{optListen: "127.0.0.1:http2"}, nil, []string{`option "listen"`, "port"}},
		{"unknown option", "http://h", sdk.Config{"retries": "3"}, nil, []string{`unknown option "retries"`}},
		{"password in url", "https://bob:hunter2@api.example.com", nil, nil, []string{"credentials do not belong in the url", "token_env"}},
		{"not http", "mqtt://127.0.0.1:1883", nil, nil, []string{`scheme "mqtt"`}},
		{"two hosts", "http://a:1,b:2", nil, nil, []string{"exactly one host"}},
		{"bad port", "http://127.0.0.1:99999/v1", nil, nil, []string{`port "99999"`}},
		{"bad header", "http://h", sdk.Config{optHeaders: "X-A 1"}, nil, []string{`option "headers"`}},
		{"secret header", "http://h", sdk.Config{optHeaders: "Authorization: Bearer x"}, nil, []string{"Authorization cannot be set here"}},
		{"basic without password", "http://h", sdk.Config{optBasicUser: "alice"}, nil, []string{`"basic_password_env" go together`}},
		{"token and basic", "http://h", sdk.Config{optTokenEnv: "HTTPCONN_TEST_SET", optBasicUser: "a", optBasicPassEnv: "HTTPCONN_TEST_SET"}, nil, []string{"not both"}},
		{"tls on http", "http://h", sdk.Config{optTLSCA: "/nonexistent/ca.pem"}, nil, []string{"url is not https://"}},
		{"missing ca file", "https://h", sdk.Config{optTLSCA: "/nonexistent/ca.pem"}, nil, []string{`option "tls_ca"`, "no such file"}},
		{"cert without key", "https://h", sdk.Config{optTLSCert: "/nonexistent/c.pem"}, nil, []string{`"tls_cert" and "tls_key" go together`}},
		{"zero timeout", "http://h", sdk.Config{optTimeout: "0s"}, nil, []string{`option "timeout"`, "above zero"}},
		{"attempts range", "http://h", sdk.Config{optMaxAttempts: "0"}, nil, []string{`option "max_attempts"`}},
		{"backoff order", "http://h", sdk.Config{optBackoffInitial: "5s", optBackoffMax: "1s"}, nil, []string{`option "backoff_max"`}},
		{"inbound option without listen", "http://h", sdk.Config{optInboundMaxBody: "10"}, nil, []string{`"inbound_max_body" needs option "listen"`}},
		{"link_from without listen", "http://h", nil, []sdk.LinkSpec{linkFrom("cmd/light", nil)}, []string{`link_from needs option "listen"`}},
		{"link_to without url", "", sdk.Config{optListen: "127.0.0.1:0"}, []sdk.LinkSpec{linkTo("a", nil)}, []string{`link_to "a" (record "alerts")`, "needs the connector's url"}},
		{"nothing to do", "", nil, nil, []string{"needs a url"}},
		{"outbound auth without url", "", sdk.Config{optListen: "127.0.0.1:0", optTokenEnv: "HTTPCONN_TEST_SET"}, nil, []string{`option "token_env" needs the connector's url`}},
		{"bad link options", "http://h", nil, []sdk.LinkSpec{linkTo("a/../b", sdk.Config{optMethod: "GET", "qos": "1"})},
			[]string{`link_to "a/../b" (record "alerts"): unknown option "qos"`, `link_to "a/../b" (record "alerts"): option "method"`, `".."`}},
		{"bad pattern", "", sdk.Config{optListen: "127.0.0.1:0"}, []sdk.LinkSpec{linkFrom("cmd/#/x", sdk.Config{optAllowGet: "maybe"})},
			[]string{`link_from "cmd/#/x" (record "cmd.light"): pattern`, "must be the last level", `link_from "cmd/#/x" (record "cmd.light"): option "allow_get"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(tc.url, tc.opts, tc.links...)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q", tc.want)
			}
			for _, e := range sdk.Split(err) {
				if k := sdk.KindOf(e); k != sdk.KindInvalidConfig && k != sdk.KindInvalidDestination {
					t.Errorf("kind of %q = %v, want invalid config or destination", e, k)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "value-that-must-not-leak") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

func TestBuildReportsEveryProblem(t *testing.T) {
	_, err := startErr("http://127.0.0.1:9", sdk.Config{optMethod: "GET", optTimeout: "soon", optListen: "nowhere"},
		[]sdk.Route{{ID: 1, Resource: "a/+b", Record: "r"}}, nil, nil)
	for _, w := range []string{`"method"`, `"timeout"`, `"listen"`, `link_from "a/+b" (record "r")`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Build error %v does not mention %s", err, w)
		}
	}
	if !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Errorf("Build error is not invalid config: %v", err)
	}
}

func TestBuildListenAddressInUse(t *testing.T) {
	_, c := start(t, "", sdk.Config{optListen: "127.0.0.1:0"}, nil, nil, nil)
	_, err := startErr("", sdk.Config{optListen: c.ListenAddr().String()}, nil, nil, nil)
	if sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), `option "listen"`) {
		t.Fatalf("second listener on the same port: err = %v", err)
	}
}

func TestDescribeDocumentsEveryOption(t *testing.T) {
	d := NewBuilder().(sdk.Describer).Describe()
	if d.Version == "" || len(d.Capabilities) == 0 {
		t.Fatalf("Describe = %+v", d)
	}
	documented := map[string]bool{}
	for _, o := range d.Options {
		if o.Doc == "" || o.Scope == "" {
			t.Errorf("option %q lacks doc or scope", o.Name)
		}
		documented[o.Scope+"/"+o.Name] = true
	}
	// Every option the parsers read must be documented in its scope.
	for _, name := range []string{optMethod, optContentType, optHeaders, optTimeout, optMaxAttempts, optBackoffInitial,
		optBackoffMax, optRetryAfterMax, optTokenEnv, optBasicUser, optBasicPassEnv, optTLSCA, optTLSCert, optTLSKey,
		optListen, optInboundTokenEnv, optInboundMaxBody, optInboundTimeout, optListenTLSCert, optListenTLSKey} {
		if !documented[sdk.ScopeConnector+"/"+name] {
			t.Errorf("connector option %q is not documented", name)
		}
	}
	for _, name := range []string{optMethod, optContentType, optHeaders, optTimeout, optMaxAttempts, optAllowGet} {
		if !documented[sdk.ScopeLinkTo+"/"+name] {
			t.Errorf("link_to option %q is not documented", name)
		}
	}
	for _, name := range []string{optAllowGet, optContentType} {
		if !documented[sdk.ScopeLinkFrom+"/"+name] {
			t.Errorf("link_from option %q is not documented", name)
		}
	}
	if NewBuilder().Scheme() != "http" {
		t.Fatal("scheme must be http")
	}
	var _ sdk.ConfigValidator = Builder{}
	var _ sdk.HealthChecker = (*connector)(nil)
}

func TestJoin(t *testing.T) {
	for _, tc := range []struct{ base, dest, want string }{
		{"https://api.example.com/v1", "alerts/high", "https://api.example.com/v1/alerts/high"},
		{"https://api.example.com/v1/", "/alerts/high", "https://api.example.com/v1/alerts/high"},
		{"https://api.example.com", "alerts", "https://api.example.com/alerts"},
		{"https://api.example.com", "", "https://api.example.com/"},
		{"https://api.example.com/v1", "", "https://api.example.com/v1"},
		{"http://127.0.0.1:9000/a%20b", "c d/é", "http://127.0.0.1:9000/a%20b/c%20d/%C3%A9"},
		{"http://[::1]:9000/v1?k=1&x=y", "q?r", "http://[::1]:9000/v1/q%3Fr?k=1&x=y"},
	} {
		b, err := parseBase(sdk.MustParseURL(tc.base))
		if err != nil {
			t.Fatalf("parseBase(%s): %v", tc.base, err)
		}
		got, shown, err := b.join(tc.dest)
		if err != nil || got != tc.want {
			t.Errorf("join(%q, %q) = %q, %v; want %q", tc.base, tc.dest, got, err, tc.want)
		}
		if strings.Contains(shown, "?") && !strings.Contains(tc.dest, "?") {
			t.Errorf("shown URL %q carries the query", shown)
		}
	}
	b, _ := parseBase(sdk.MustParseURL("https://h/v1"))
	for _, bad := range []string{"a//b", "a/./b", "..", "a/"} {
		if _, _, err := b.join(bad); sdk.KindOf(err) != sdk.KindInvalidDestination {
			t.Errorf("join(%q) err = %v, want invalid destination", bad, err)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"Fri, 27 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Friday, 27-Nov-26 10:01:00 GMT", time.Minute, true},
		{"Fri, 27 Nov 2026 09:00:00 GMT", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
	} {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRetryableStatus(t *testing.T) {
	for code, want := range map[int]bool{408: true, 429: true, 500: true, 502: true, 503: true, 504: true, 501: false, 505: false, 400: false, 404: false, 413: false} {
		if retryableStatus(code) != want {
			t.Errorf("retryableStatus(%d) = %v", code, !want)
		}
	}
}
