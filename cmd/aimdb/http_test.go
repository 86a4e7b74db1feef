package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/aimdb-dev/aimdb-go/host/ops"
)

// TestHTTPRefusesNonLoopbackWithoutToken: a non-loopback --http (or http block)
// without a token refuses to start, saying why and where.
func TestHTTPRefusesNonLoopbackWithoutToken(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "aimdb.hcl")
	if err := os.WriteFile(cfg, []byte("record \"a\" {}\nhttp {\n  listen = \"0.0.0.0:9180\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl := "unix://" + filepath.Join(dir, "c.sock")
	r := aimdb(t, nil, "run", "--config", cfg, "--control", ctl, "--http", "0.0.0.0:0")
	if r.code != 1 || !strings.Contains(r.stderr, `"0.0.0.0:0" is not a loopback address`) || !strings.Contains(r.stderr, "--http-token-env") {
		t.Errorf("--http 0.0.0.0:0 without a token: %+v", r)
	}
	r = aimdb(t, nil, "run", "--config", cfg, "--control", ctl)
	if r.code != 1 || !strings.Contains(r.stderr, cfg+":3:12: http listen address \"0.0.0.0:9180\" is not a loopback address") {
		t.Errorf("http block on 0.0.0.0 without a token: %+v", r)
	}
	r = aimdb(t, []string{"AIMDB_TEST_EMPTY="}, "run", "--config", cfg, "--control", ctl, "--http-token-env", "AIMDB_TEST_EMPTY")
	if r.code != 1 || !strings.Contains(r.stderr, "AIMDB_TEST_EMPTY is empty or not set") {
		t.Errorf("an empty token: %+v", r)
	}
	r = aimdb(t, nil, "run", "--config", cfg, "--control", ctl, "--http", "off", "--pprof")
	if r.code != 2 || !strings.Contains(r.stderr, "--pprof needs the operations listener") {
		t.Errorf("--pprof without a listener: %+v", r)
	}
}

var dashboardLine = regexp.MustCompile(`dashboard=(http://127\.0\.0\.1:[0-9]+)/ metrics=\S+/metrics health=\S+/healthz ready=\S+/readyz ws=\S+ config=`)

// TestHTTPTokenAndStatus: with a token, a request without it gets 401; the start
// line names every endpoint and the control socket; aimdb status shows the instance
// at a glance, as a table and as JSON.
func TestHTTPTokenAndStatus(t *testing.T) {
	t.Setenv("AIMDB_TEST_TOKEN", "tok-123")
	in := startInstance(t, recordsConfig, "--http", "127.0.0.1:0", "--http-token-env", "AIMDB_TEST_TOKEN")
	defer in.stop(t)
	base := dashboardBase(t, in)
	if !strings.Contains(in.logs(), "control="+in.addr) {
		t.Errorf("the start line does not name the control socket:\n%s", in.logs())
	}
	get := func(auth string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code := get("Bearer tok-123"); code != http.StatusOK {
		t.Errorf("with the token: %d, want 200", code)
	}

	if r := aimdb(t, in.env, "record", "set", "setpoint", "21"); r.code != 0 {
		t.Fatalf("record set: %+v", r)
	}
	r := aimdb(t, in.env, "status")
	if r.code != 0 || !regexp.MustCompile(`(?m)^setpoint\s+spmc_ring\s+[0-9.]+\s+1\s+0\s+0\s+`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "VALUES/S") || strings.Contains(r.stdout, ops.StatusKey) {
		t.Errorf("status:\n%s%s", r.stdout, r.stderr)
	}
	r = aimdb(t, in.env, "status", "-o", "json")
	var st ops.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Records) != 6 || st.Links == nil || st.Connectors == nil {
		t.Errorf("status -o json: %v\n%s", err, r.stdout)
	}
}

// TestHTTPReadOnly: --read-only holds for /ws as for the control socket: record.set
// and write are denied there, reads answer.
func TestHTTPReadOnly(t *testing.T) {
	in := startInstance(t, recordsConfig, "--read-only", "--http", "127.0.0.1:0")
	base := dashboardBase(t, in)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws?v=3.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	exchange := func(frame string) control.Frame {
		t.Helper()
		if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f control.Frame
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return f
	}
	if f := exchange(`{"t":"req","id":1,"method":"record.set","params":{"key":"setpoint","value":21}}`); f.Err != control.CodeDenied {
		t.Errorf("record.set over /ws of a --read-only hub: %+v", f)
	}
	if f := exchange(`{"t":"write","id":2,"topic":"setpoint","payload":21}`); f.Err != control.CodeDenied {
		t.Errorf("write over /ws of a --read-only hub: %+v", f)
	}
	if f := exchange(`{"t":"req","id":3,"method":"record.get","params":{"key":"setpoint"}}`); f.Err == control.CodeDenied {
		t.Errorf("record.get over /ws of a --read-only hub: %+v", f)
	}
	if r := aimdb(t, in.env, "record", "set", "setpoint", "21"); r.code == 0 {
		t.Errorf("record set on the control socket of a --read-only hub: %+v", r)
	}
}

// TestHTTPFlagWins: --http overrides the configuration's http block: another address
// is listened on instead, and off listens on none.
func TestHTTPFlagWins(t *testing.T) {
	src := recordsConfig + "http {\n  listen = \"0.0.0.0:9180\"\n}\n" // refused without a token
	in := startInstance(t, src, "--http", "127.0.0.1:0")
	deadline := time.Now().Add(10 * time.Second)
	for dashboardLine.FindStringSubmatch(in.logs()) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("--http 127.0.0.1:0 over the http block: no listener:\n%s", in.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.stop(t)

	in = startInstance(t, src, "--http", "off")
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(in.logs(), "aimdb running") {
		if time.Now().After(deadline) {
			t.Fatalf("--http off: no start line:\n%s", in.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(in.logs(), "dashboard=") || strings.Contains(in.logs(), "metrics=") {
		t.Errorf("--http off still listens:\n%s", in.logs())
	}
}

// dashboardBase waits for the start line naming the endpoints and returns the
// dashboard's base URL from it.
func dashboardBase(t *testing.T, in *instance) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := dashboardLine.FindStringSubmatch(in.logs()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start line naming the endpoints:\n%s", in.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
