package httpconn

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/testpki"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// jsonSink acks valid JSON and rejects anything else, as the host does when a value
// does not deserialize.
func jsonSink() *recordingSink {
	return &recordingSink{answer: func(m run.Message, ack func(error)) {
		var v any
		if err := json.Unmarshal(m.Payload, &v); err != nil {
			ack(sdk.Errorf(sdk.KindRejected, "link_from %q: payload is not JSON: %v", m.Topic, err))
			return
		}
		ack(nil)
	}}
}

var lightRoutes = []sdk.Route{
	{ID: 1, Resource: "cmd/light", Record: "cmd.light", Config: sdk.Config{optAllowGet: "true"}},
	{ID: 2, Resource: "sensors/+", Record: "sensors"},
}

// listening starts an inbound-only connector on a free loopback port and returns its base URL.
func listening(t *testing.T, opts sdk.Config, routes []sdk.Route, sink run.Sink, host sdk.Host) (string, *run.Instance, *connector) {
	t.Helper()
	inst, c := start(t, "", with(opts, optListen, "127.0.0.1:0"), routes, sink, host)
	return "http://" + c.ListenAddr().String(), inst, c
}

// call makes one request and returns the status, the body and the response headers.
func call(t *testing.T, client *http.Client, method, url, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestInboundPostRoutesAfterAck(t *testing.T) {
	var acked atomic.Int64
	sink := &recordingSink{answer: func(m run.Message, ack func(error)) {
		go func() {
			time.Sleep(100 * time.Millisecond)
			acked.Store(time.Now().UnixNano())
			ack(nil)
		}()
	}}
	base, _, c := listening(t, nil, lightRoutes, sink, nil)

	code, body, _ := call(t, nil, "POST", base+"/cmd/light", `{"on":true}`)
	replied := time.Now().UnixNano()
	if code != http.StatusNoContent {
		t.Fatalf("POST /cmd/light = %d %q, want 204", code, body)
	}
	if a := acked.Load(); a == 0 || a > replied {
		t.Fatal("the reply came before the host's acknowledgement")
	}
	if code, body, _ := call(t, nil, "POST", base+"/sensors/kitchen", "21.5"); code != 204 {
		t.Fatalf("POST /sensors/kitchen (wildcard) = %d %q", code, body)
	}
	want := []delivered{{1, "cmd/light", `{"on":true}`}, {2, "sensors/kitchen", "21.5"}}
	if got := sink.messages(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("sink got %+v, want %+v", got, want)
	}
	for _, path := range []string{"/sensors/a/b", "/cmd", "/", "/nothing"} {
		if code, _, _ := call(t, nil, "POST", base+path, "1"); code != http.StatusNotFound {
			t.Errorf("POST %s = %d, want 404", path, code)
		}
	}
	if n := len(sink.messages()); n != 2 {
		t.Errorf("unrouted posts reached the sink: %d messages", n)
	}
	if err := c.Health(context.Background()); err != nil {
		t.Errorf("Health with the listener up = %v", err)
	}
}

func TestInboundRejectsBadValues(t *testing.T) {
	base, _, _ := listening(t, sdk.Config{optInboundMaxBody: "16"}, lightRoutes, jsonSink(), nil)

	code, body, _ := call(t, nil, "POST", base+"/cmd/light", `{"on":tru`)
	if code != http.StatusBadRequest || !strings.Contains(body, "payload is not JSON") {
		t.Errorf("bad JSON = %d %q, want 400 with the host's reason", code, body)
	}
	code, body, _ = call(t, nil, "POST", base+"/cmd/light", `{"on":true,"x":12}`)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "inbound_max_body 16") {
		t.Errorf("17-byte body = %d %q, want 413 naming the limit", code, body)
	}
	// Without Content-Length the limit must hold while reading.
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte(strings.Repeat("1", 40))); _ = pw.Close() }()
	resp, err := http.Post(base+"/cmd/light", "application/json", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversized body = %d, want 413", resp.StatusCode)
	}

	code, _, h := call(t, nil, "PUT", base+"/sensors/x", "1")
	if code != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" {
		t.Errorf("PUT = %d Allow %q, want 405 Allow POST", code, h.Get("Allow"))
	}
	code, _, h = call(t, nil, "DELETE", base+"/cmd/light", "")
	if code != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("DELETE on a readable link = %d Allow %q", code, h.Get("Allow"))
	}
	if code, _, _ := call(t, nil, "DELETE", base+"/nothing", ""); code != http.StatusNotFound {
		t.Errorf("DELETE unknown path = %d, want 404", code)
	}
}

func TestInboundToken(t *testing.T) {
	t.Setenv("HTTPCONN_TEST_INBOUND", "let-me-in")
	sink := jsonSink()
	base, _, _ := listening(t, sdk.Config{optInboundTokenEnv: "HTTPCONN_TEST_INBOUND"}, lightRoutes, sink, nil)

	for _, auth := range []string{"", "Bearer wrong", "Basic let-me-in", "Bearer let-me-inx"} {
		code, body, h := call(t, nil, "POST", base+"/cmd/light", "1", "Authorization", auth)
		if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || strings.Contains(body, "let-me-in") {
			t.Errorf("Authorization %q = %d %q, want 401 with a Bearer challenge", auth, code, body)
		}
	}
	if code, _, _ := call(t, nil, "POST", base+"/nothing", "1"); code != http.StatusUnauthorized {
		t.Errorf("unknown path without a token = %d, want 401 (paths are not disclosed)", code)
	}
	if len(sink.messages()) != 0 {
		t.Fatal("an unauthorized request reached the sink")
	}
	if code, body, _ := call(t, nil, "POST", base+"/cmd/light", "1", "Authorization", "bearer let-me-in"); code != 204 {
		t.Errorf("right token = %d %q", code, body)
	}
}

func TestInboundHostUnavailable(t *testing.T) {
	never := &recordingSink{answer: func(run.Message, func(error)) {}}
	base, _, _ := listening(t, sdk.Config{optInboundTimeout: "200ms"}, lightRoutes, never, nil)
	begin := time.Now()
	code, body, h := call(t, nil, "POST", base+"/cmd/light", "1")
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(body, "inbound_timeout 200ms") {
		t.Fatalf("unanswered = %d %q, want 503 naming inbound_timeout", code, body)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("503 came after %s", d)
	}

	closed := &recordingSink{answer: func(_ run.Message, ack func(error)) { ack(sdk.Errorf(sdk.KindClosed, "host is shutting down")) }}
	base, _, _ = listening(t, nil, lightRoutes, closed, nil)
	if code, body, _ := call(t, nil, "POST", base+"/cmd/light", "1"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Fatalf("closed host = %d %q, want 503", code, body)
	}
}

func TestInboundGetLatest(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	host := fakeHost{latest: func(resource string) ([]byte, error) {
		mu.Lock()
		asked = append(asked, resource)
		mu.Unlock()
		switch resource {
		case "cmd/light", "status/ok":
			return []byte(`{"on":true}`), nil
		case "text/+":
			return []byte("warm"), nil
		case "status/secret":
			return nil, sdk.Errorf(sdk.KindRejected, "link_to %q does not allow reads", resource)
		case "status/broken":
			return nil, sdk.Errorf(sdk.KindConnectionFailed, "host unreachable")
		}
		return nil, sdk.Errorf(sdk.KindNoRoute, "no link for %q", resource)
	}}
	routes := append([]sdk.Route{{ID: 3, Resource: "text/+", Config: sdk.Config{optAllowGet: "1", optContentType: "text/plain"}}}, lightRoutes...)
	webhook := newScripted(t, nil, status(204, ""))
	// link_to paths are readable when their link has allow_get, from the start.
	var outbound []sdk.LinkSpec
	for _, dest := range []string{"status/ok", "status/secret", "status/broken", "status/gone"} {
		outbound = append(outbound, sdk.LinkSpec{Direction: sdk.Outbound, Resource: dest, Config: sdk.Config{optAllowGet: "true"}})
	}
	outbound = append(outbound, sdk.LinkSpec{Direction: sdk.Outbound, Resource: "status/private"})
	u, err := sdk.ParseURL(webhook.URL)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := run.Start(context.Background(), NewBuilder(), run.Config{
		Name: "hooks", URL: u, Options: sdk.Config{optListen: "127.0.0.1:0"}, Routes: routes, Outbound: outbound, Sink: jsonSink(), Host: host,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	c := inst.Connector().(*connector)
	base := "http://" + c.ListenAddr().String()

	code, body, h := call(t, nil, "GET", base+"/cmd/light", "")
	if code != 200 || body != `{"on":true}` || h.Get("Content-Type") != "application/json" {
		t.Errorf("GET /cmd/light = %d %q %q", code, body, h.Get("Content-Type"))
	}
	if code, body, _ := call(t, nil, "HEAD", base+"/cmd/light", ""); code != 200 || body != "" {
		t.Errorf("HEAD = %d %q", code, body)
	}
	code, _, h = call(t, nil, "GET", base+"/sensors/kitchen", "")
	if code != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" {
		t.Errorf("GET on a link_from without allow_get = %d Allow %q, want 405 Allow POST", code, h.Get("Allow"))
	}
	code, body, h = call(t, nil, "GET", base+"/text/a", "")
	if code != 200 || body != "warm" || h.Get("Content-Type") != "text/plain" {
		t.Errorf("GET /text/a = %d %q %q, want the value of the link's pattern with its content_type", code, body, h.Get("Content-Type"))
	}
	for path, want := range map[string]int{"/status/ok": 200, "/status/secret": 403, "/status/broken": 503, "/status/gone": 404,
		"/status/private": 404, "/status/never": 404, "/": 404} {
		if code, body, _ := call(t, nil, "GET", base+path, ""); code != want {
			t.Errorf("GET %s = %d %q, want %d", path, code, body, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range asked {
		switch r {
		case "sensors/kitchen", "text/a":
			t.Errorf("the host was asked for %q; link_from paths must be asked by their pattern", r)
		case "status/private", "status/never", "":
			t.Errorf("the host was asked for %q, which no link with allow_get has sent to", r)
		}
	}
}

func TestInboundGracefulClose(t *testing.T) {
	got := make(chan struct{}, 1)
	slow := &recordingSink{answer: func(_ run.Message, ack func(error)) {
		got <- struct{}{}
		time.AfterFunc(300*time.Millisecond, func() { ack(nil) })
	}}
	base, inst, c := listening(t, nil, lightRoutes, slow, nil)

	codes := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/cmd/light", "application/json", strings.NewReader("1"))
		if err != nil {
			codes <- -1
			return
		}
		resp.Body.Close()
		codes <- resp.StatusCode
	}()
	<-got
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := inst.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if code := <-codes; code != 204 {
		t.Fatalf("request in flight during Close got %d, want 204 (drained)", code)
	}
	if _, err := http.Post(base+"/cmd/light", "application/json", strings.NewReader("1")); err == nil {
		t.Fatal("the listener still accepts after Close")
	}
	if sdk.KindOf(c.Health(context.Background())) != sdk.KindClosed {
		t.Fatal("Health after Close must say closed")
	}
}

func TestInboundTLS(t *testing.T) {
	pki := testpki.New(t)
	base, _, _ := listening(t, sdk.Config{optListenTLSCert: pki.ServerCert, optListenTLSKey: pki.ServerKey}, lightRoutes, jsonSink(), nil)
	base = strings.Replace(base, "http://", "https://", 1)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool(t)}}}
	defer client.CloseIdleConnections()
	if code, body, _ := call(t, client, "POST", base+"/cmd/light", `{"on":false}`); code != 204 {
		t.Fatalf("POST over TLS = %d %q", code, body)
	}
}

// TestInboundWithCurl drives the listener the way a user would from a shell.
func TestInboundWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is not installed; CI needs it for this test")
		}
		t.Skip("curl is not installed")
	}
	t.Setenv("HTTPCONN_TEST_CURL", "curl-token")
	sink := jsonSink()
	base, _, _ := listening(t, sdk.Config{optInboundTokenEnv: "HTTPCONN_TEST_CURL"}, lightRoutes, sink, nil)
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if got := run("-X", "POST", "-H", "Authorization: Bearer curl-token", "-H", "Content-Type: application/json",
		"--data-binary", `{"on":true}`, base+"/cmd/light"); got != "204" {
		t.Fatalf("curl POST = %s, want 204", got)
	}
	if got := run("--data-binary", `{"on":true}`, base+"/cmd/light"); got != "401" {
		t.Fatalf("curl POST without token = %s, want 401", got)
	}
	if got := run("-H", "Authorization: Bearer curl-token", "--data-binary", "{oops", base+"/cmd/light"); got != "400" {
		t.Fatalf("curl POST bad JSON = %s, want 400", got)
	}
	if msgs := sink.messages(); len(msgs) != 2 || msgs[0].payload != `{"on":true}` {
		t.Fatalf("sink got %+v", msgs)
	}
}
