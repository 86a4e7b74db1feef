package httpconn

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/testpki"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// seen is one request a scripted server received.
type seen struct {
	at      time.Time
	method  string
	uri     string
	header  http.Header
	body    string
	tlsPeer int // client certificates presented
}

// scripted is a test server that answers its n-th request with steps[n] (the last
// step repeats) and records every request.
type scripted struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

type step func(w http.ResponseWriter, r *http.Request)

func newScripted(t *testing.T, tlsCfg *tls.Config, steps ...step) *scripted {
	t.Helper()
	s := &scripted{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		rec := seen{at: time.Now(), method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: string(body)}
		if r.TLS != nil {
			rec.tlsPeer = len(r.TLS.PeerCertificates)
		}
		s.reqs = append(s.reqs, rec)
		n := len(s.reqs) - 1
		s.mu.Unlock()
		steps[min(n, len(steps)-1)](w, r)
	})
	s.Server = httptest.NewUnstartedServer(h)
	if tlsCfg != nil {
		s.TLS = tlsCfg
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

func status(code int, body string, headers ...string) step {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// hangUp drops the connection without an answer: a connection error for the client.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// fast keeps retry waits short in tests.
var fast = sdk.Config{optBackoffInitial: "5ms", optBackoffMax: "20ms"}

func with(base sdk.Config, kv ...string) sdk.Config {
	c := base.Clone()
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = kv[i+1]
	}
	return c
}

func publish(inst *run.Instance, dest string, cfg sdk.Config, payload string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return inst.Publish(ctx, dest, cfg, []byte(payload))
}

func TestPublishRetriesUntilSuccess(t *testing.T) {
	t.Setenv("HTTPCONN_TEST_TOKEN", "s3cret-token")
	srv := newScripted(t, nil, status(503, "busy"), hangUp, status(200, "ok"))
	inst, _ := start(t, srv.URL+"/v1", with(fast, optTokenEnv, "HTTPCONN_TEST_TOKEN", optHeaders, "X-Source: aimdb; X-Env: test"), nil, nil, nil)

	if err := publish(inst, "alerts/high", nil, `{"level":3}`); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("server saw %d requests, want 3 (503, dropped connection, 200)", len(reqs))
	}
	for i, r := range reqs {
		if r.method != "POST" || r.uri != "/v1/alerts/high" || r.body != `{"level":3}` {
			t.Errorf("request %d = %s %s %q, want POST /v1/alerts/high with the payload", i, r.method, r.uri, r.body)
		}
		if got := r.header.Get("Authorization"); got != "Bearer s3cret-token" {
			t.Errorf("request %d: Authorization = %q", i, got)
		}
		if r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Source") != "aimdb" || r.header.Get("X-Env") != "test" {
			t.Errorf("request %d: headers %v", i, r.header)
		}
	}
}

func TestPublishGivesUpAfterMaxAttempts(t *testing.T) {
	srv := newScripted(t, nil, status(500, "broken"))
	inst, c := start(t, srv.URL, with(fast, optMaxAttempts, "3"), nil, nil, nil)

	err := publish(inst, "x", nil, "1")
	if sdk.KindOf(err) != sdk.KindConnectionFailed || !strings.Contains(err.Error(), "500 Internal Server Error") ||
		!strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "(body: broken)") {
		t.Fatalf("err = %v (kind %v), want connection failed naming 500, the body and 3 attempts", err, sdk.KindOf(err))
	}
	if n := len(srv.requests()); n != 3 {
		t.Fatalf("server saw %d requests, want 3", n)
	}
	if err := c.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Health after failures = %v, want the last error", err)
	}
	// A later request that reaches the server clears the state.
	srv2 := newScripted(t, nil, status(404, "nope"))
	inst2, c2 := start(t, srv2.URL, fast, nil, nil, nil)
	if err := publish(inst2, "x", nil, "1"); err == nil {
		t.Fatal("404 must fail")
	}
	if err := c2.Health(context.Background()); err != nil {
		t.Fatalf("a 4xx answer means the server is reachable; Health = %v", err)
	}
}

func TestPublishHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value func() string
		min   time.Duration
	}{
		{"seconds", func() string { return "1" }, 900 * time.Millisecond},
		// HTTP-dates have whole seconds: two seconds ahead is at least one second away.
		{"http-date", func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 900 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			first := func(w http.ResponseWriter, r *http.Request) {
				status(429, "slow down", "Retry-After", tc.value())(w, r)
			}
			srv := newScripted(t, nil, first, status(204, ""))
			inst, _ := start(t, srv.URL, sdk.Config{optBackoffInitial: "1ms", optBackoffMax: "2ms"}, nil, nil, nil)
			if err := publish(inst, "x", nil, "1"); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			reqs := srv.requests()
			if len(reqs) != 2 {
				t.Fatalf("server saw %d requests, want 2", len(reqs))
			}
			if gap := reqs[1].at.Sub(reqs[0].at); gap < tc.min {
				t.Fatalf("retried after %s, want at least %s as Retry-After asked", gap, tc.min)
			}
		})
	}
}

func TestPublishRetryAfterBeyondLimits(t *testing.T) {
	srv := newScripted(t, nil, status(503, "maintenance", "Retry-After", "30"))
	inst, _ := start(t, srv.URL, fast, nil, nil, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	err := inst.Publish(ctx, "x", nil, []byte("1"))
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "after the deadline") {
		t.Fatalf("err = %v, want the 503 and that the retry would miss the deadline", err)
	}
	if time.Since(begin) > 4*time.Second {
		t.Fatalf("Publish took %s; a retry it cannot make in time must not be waited for", time.Since(begin))
	}

	inst2, _ := start(t, srv.URL, with(fast, optRetryAfterMax, "10s"), nil, nil, nil)
	err = publish(inst2, "x", nil, "1")
	if err == nil || !strings.Contains(err.Error(), "retry_after_max") {
		t.Fatalf("err = %v, want it to name retry_after_max", err)
	}
}

func TestPublishClientErrorsAreNotRetried(t *testing.T) {
	long := `{"error":"field \"level\" must be a number"}` + strings.Repeat("x", 500)
	for _, tc := range []struct {
		code int
		body string
		kind sdk.ErrorKind
		want []string
	}{
		{400, long, sdk.KindInvalidDestination, []string{`400 Bad Request (body: {"error":"field \"level\" must be a number"}xxx`, "xxx...)"}},
		{404, "no such\nhook\n", sdk.KindInvalidDestination, []string{"404 Not Found (body: no such hook)"}},
		{413, "", sdk.KindMessageTooLarge, []string{"413 Request Entity Too Large"}},
		{403, "forbidden", sdk.KindInvalidConfig, []string{"403 Forbidden", "token_env"}},
		{418, "teapot", sdk.KindRejected, []string{"418", "teapot"}},
		{308, "", sdk.KindInvalidConfig, []string{"308", "/elsewhere", "redirects are not followed"}},
	} {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			t.Parallel()
			srv := newScripted(t, nil, status(tc.code, tc.body, "Location", "/elsewhere"))
			inst, _ := start(t, srv.URL, fast, nil, nil, nil)
			err := publish(inst, "alerts/high", nil, "1")
			if err == nil {
				t.Fatal("Publish succeeded")
			}
			if sdk.KindOf(err) != tc.kind {
				t.Errorf("kind = %v, want %v (%v)", sdk.KindOf(err), tc.kind, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if len(err.Error()) > 600 {
				t.Errorf("error is %d bytes; the body must be cut short", len(err.Error()))
			}
			if n := len(srv.requests()); n != 1 {
				t.Errorf("server saw %d requests, want 1 (no retry)", n)
			}
		})
	}
}

func TestPublishTokenFromEnv(t *testing.T) {
	srv := newScripted(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer right-token" {
			// A careless server echoes what it got; the connector must not repeat it.
			status(401, "bad credentials: "+r.Header.Get("Authorization"))(w, r)
			return
		}
		w.WriteHeader(204)
	})

	t.Setenv("HTTPCONN_TEST_WRONG", "wrong-token-value")
	inst, _ := start(t, srv.URL, with(fast, optTokenEnv, "HTTPCONN_TEST_WRONG"), nil, nil, nil)
	err := publish(inst, "x", nil, "1")
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-token-value") {
		t.Fatalf("err = %v, want 401 without the token", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Fatalf("401 was retried: %d requests", n)
	}

	t.Setenv("HTTPCONN_TEST_RIGHT", "right-token")
	inst, _ = start(t, srv.URL, with(fast, optTokenEnv, "HTTPCONN_TEST_RIGHT"), nil, nil, nil)
	if err := publish(inst, "x", nil, "1"); err != nil {
		t.Fatalf("with the right token: %v", err)
	}

	_, err = startErr(srv.URL, sdk.Config{optTokenEnv: "HTTPCONN_TEST_ABSENT"}, nil, nil, nil)
	if sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), `"token_env"`) || !strings.Contains(err.Error(), "HTTPCONN_TEST_ABSENT is not set") {
		t.Fatalf("absent variable: err = %v, want invalid config naming the option and the variable", err)
	}
	t.Setenv("HTTPCONN_TEST_EMPTY", "")
	_, err = startErr(srv.URL, sdk.Config{optTokenEnv: "HTTPCONN_TEST_EMPTY"}, nil, nil, nil)
	if sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), "HTTPCONN_TEST_EMPTY is empty") {
		t.Fatalf("empty variable: err = %v", err)
	}
}

// TestPublishEchoedCredentialsMasked has a server echo the Authorization header it
// got in its 401 body, with the credential straddling the 200-byte cut of the
// excerpt: neither the secret nor its base64 form, whole or in part, reaches the
// error, for a bearer token and for basic auth.
func TestPublishEchoedCredentialsMasked(t *testing.T) {
	const token, pass = "tok-Zq8Xw2Lm9Vb4Kp7", "pw-Hy6Tr3Ne8Qa1"
	t.Setenv("HTTPCONN_TEST_ECHO_TOKEN", token)
	t.Setenv("HTTPCONN_TEST_ECHO_PASS", pass)
	basic := base64.StdEncoding.EncodeToString([]byte("alice:" + pass))
	for _, tc := range []struct {
		name    string
		opts    sdk.Config
		secrets []string
	}{
		{"bearer", sdk.Config{optTokenEnv: "HTTPCONN_TEST_ECHO_TOKEN"}, []string{token}},
		{"basic", sdk.Config{optBasicUser: "alice", optBasicPassEnv: "HTTPCONN_TEST_ECHO_PASS"}, []string{pass, basic}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, nil, func(w http.ResponseWriter, r *http.Request) {
				got := r.Header.Get("Authorization")
				_, cred, _ := strings.Cut(got, " ")
				// Once as the header, once bare, each across the 200-byte cut.
				body := strings.Repeat("p", bodyExcerpt-len("Authorization: ")-6) + "Authorization: " + got + " " +
					strings.Repeat("q", 30) + " seen " + cred
				status(401, body)(w, r)
			})
			opts := fast.Clone()
			for k, v := range tc.opts {
				opts[k] = v
			}
			inst, _ := start(t, srv.URL, opts, nil, nil, nil)
			err := publish(inst, "x", nil, "1")
			if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "Authorization: ***") {
				t.Fatalf("err = %v, want 401 with the header masked", err)
			}
			for _, secret := range tc.secrets {
				for i := 0; i+5 <= len(secret); i++ {
					if part := secret[i : i+5]; strings.Contains(err.Error(), part) {
						t.Fatalf("error shows %q of secret %q: %v", part, secret, err)
					}
				}
			}
		})
	}
}

func TestPublishMethodHeadersAndBasicAuth(t *testing.T) {
	t.Setenv("HTTPCONN_TEST_PASS", "pa55word")
	srv := newScripted(t, nil, status(200, ""))
	opts := sdk.Config{
		optMethod: "put", optContentType: "text/plain; charset=utf-8", optHeaders: "X-A: 1\nX-B: 2",
		optBasicUser: "alice", optBasicPassEnv: "HTTPCONN_TEST_PASS",
	}
	inst, _ := start(t, srv.URL+"/base/", opts, nil, nil, nil)
	if err := publish(inst, "/one", nil, "hello"); err != nil {
		t.Fatal(err)
	}
	link := sdk.Config{optMethod: "POST", optContentType: "application/cbor", optHeaders: "X-B: link; X-C: 3", optAllowGet: "true"}
	if err := publish(inst, "two", link, "world"); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	user, pass, _ := (&http.Request{Header: r.header}).BasicAuth()
	if r.method != "PUT" || r.uri != "/base/one" || r.header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		r.header.Get("X-A") != "1" || r.header.Get("X-B") != "2" || user != "alice" || pass != "pa55word" {
		t.Errorf("first request = %s %s %v", r.method, r.uri, r.header)
	}
	r = reqs[1]
	if r.method != "POST" || r.uri != "/base/two" || r.header.Get("Content-Type") != "application/cbor" ||
		r.header.Get("X-A") != "1" || r.header.Get("X-B") != "link" || r.header.Get("X-C") != "3" {
		t.Errorf("second request (link options) = %s %s %v", r.method, r.uri, r.header)
	}

	err := publish(inst, "x", sdk.Config{optMethod: "DELETE"}, "1")
	if sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), `"method"`) {
		t.Errorf("bad link method: err = %v", err)
	}
	err = publish(inst, "x", sdk.Config{"qos": "1"}, "1")
	if sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), `"qos"`) {
		t.Errorf("unknown link option: err = %v", err)
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("bad link options still sent requests: %d", n)
	}
}

func TestPublishEscapesDestination(t *testing.T) {
	srv := newScripted(t, nil, status(200, ""))
	inst, _ := start(t, srv.URL+"/v1?key=abc", nil, nil, nil, nil)
	if err := publish(inst, "room 1/t?x#y/%41", nil, "1"); err != nil {
		t.Fatal(err)
	}
	if got, want := srv.requests()[0].uri, "/v1/room%201/t%3Fx%23y/%2541?key=abc"; got != want {
		t.Fatalf("request URI = %q, want %q", got, want)
	}
	err := publish(inst, "a/../b", nil, "1")
	if sdk.KindOf(err) != sdk.KindInvalidDestination {
		t.Fatalf("\"..\" level: err = %v, want invalid destination", err)
	}
}

func TestPublishConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	inst, c := start(t, "http://"+addr, with(fast, optMaxAttempts, "2"), nil, nil, nil)
	err = publish(inst, "x", nil, "1")
	if sdk.KindOf(err) != sdk.KindConnectionFailed || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Fatalf("err = %v, want connection failed after 2 attempts", err)
	}
	if err := c.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "still unreachable") {
		t.Fatalf("Health = %v, want the unreachable server", err)
	}
	// The server comes back: health recovers without another publish.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ln.Close()
	if err := c.Health(context.Background()); err != nil {
		t.Fatalf("Health with the server back = %v", err)
	}
}

func TestPublishTimeouts(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := newScripted(t, nil, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})

	inst, _ := start(t, srv.URL, fast, nil, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := inst.Publish(ctx, "x", nil, []byte("1"))
	if sdk.KindOf(err) != sdk.KindTimeout || !errors.Is(err, sdk.ErrTimeout) {
		t.Fatalf("caller deadline: err = %v, want timeout", err)
	}

	inst2, _ := start(t, srv.URL, with(fast, optTimeout, "100ms", optMaxAttempts, "2"), nil, nil, nil)
	err = publish(inst2, "x", nil, "1")
	if sdk.KindOf(err) != sdk.KindTimeout || !strings.Contains(err.Error(), "no answer within timeout 100ms") ||
		!strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Fatalf("attempt timeout: err = %v, want timeout, retried once", err)
	}
}

func TestPublishStopsRetryingOnClose(t *testing.T) {
	srv := newScripted(t, nil, status(503, "", "Retry-After", "5"))
	inst, _ := start(t, srv.URL, nil, nil, nil, nil)
	errc := make(chan error, 1)
	go func() { errc <- publish(inst, "x", nil, "1") }()
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if sdk.KindOf(err) != sdk.KindClosed {
			t.Fatalf("err = %v, want closed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish kept waiting for its retry after Close")
	}
}

func TestPublishTLS(t *testing.T) {
	c := testpki.New(t)
	serverPair, err := tls.LoadX509KeyPair(c.ServerCert, c.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := newScripted(t, &tls.Config{
		Certificates: []tls.Certificate{serverPair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: c.Pool(t),
	}, status(200, ""))

	inst, _ := start(t, srv.URL, sdk.Config{optTLSCA: c.CA, optTLSCert: c.ClientCert, optTLSKey: c.ClientKey}, nil, nil, nil)
	if err := publish(inst, "x", nil, "1"); err != nil {
		t.Fatalf("with CA and client certificate: %v", err)
	}
	if reqs := srv.requests(); len(reqs) != 1 || reqs[0].tlsPeer != 1 {
		t.Fatalf("server saw %+v, want one request with a client certificate", reqs)
	}

	inst, _ = start(t, srv.URL, with(fast, optMaxAttempts, "3"), nil, nil, nil)
	err = publish(inst, "x", nil, "1")
	if sdk.KindOf(err) != sdk.KindConnectionFailed || !strings.Contains(err.Error(), "tls_ca") || strings.Contains(err.Error(), "gave up") {
		t.Fatalf("unknown CA: err = %v, want connection failed naming tls_ca, not retried", err)
	}
}
