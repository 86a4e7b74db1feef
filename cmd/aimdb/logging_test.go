package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// logLines parses every line of a --log-format json log: each must be a JSON object
// with a level and a message.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(logs, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line %d is not JSON (%v): %s", i+1, err, line)
			continue
		}
		if lvl, _ := m["@level"].(string); lvl == "" {
			t.Errorf("log line %d has no @level: %s", i+1, line)
		}
		if msg, _ := m["@message"].(string); msg == "" {
			t.Errorf("log line %d has no @message: %s", i+1, line)
		}
		out = append(out, m)
	}
	return out
}

// find returns the lines with message msg whose fields include want.
func find(lines []map[string]any, msg string, want map[string]string) []map[string]any {
	var out []map[string]any
next:
	for _, l := range lines {
		if l["@message"] != msg {
			continue
		}
		for k, v := range want {
			if fmt.Sprint(l[k]) != v {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// TestLogFormatJSON: with --log-format json every line of the log is a JSON object
// with a level and a message, the plugin's lines and the libraries' included; the
// start line names the control socket and every HTTP endpoint; every link and
// connector state change is a line of its own (an outage of the loopback plugin
// switched on and off by a file). A format other than text or json is refused.
func TestLogFormatJSON(t *testing.T) {
	down := filepath.Join(t.TempDir(), "down")
	in := startInstance(t, fmt.Sprintf(`connector "lb" {
  plugin     = "loopback"
  inject     = "none"
  down_while = %q
  retry_min  = "50ms"
  retry_max  = "100ms"
}
record "cmd.in" {
  buffer   = "single_latest"
  writable = true
  link_to "lb://out/x" {}
}
`, down), "--log-format", "json", "--log-level", "debug", "--http", "127.0.0.1:0")
	waitLog := func(what string, cond func([]map[string]any) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var lines []map[string]any
			for _, line := range strings.Split(in.logs(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) == nil {
					lines = append(lines, m)
				}
			}
			if cond(lines) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not in the log within 15 s:\n%s", what, in.logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitLog("the start line", func(ls []map[string]any) bool { return len(find(ls, "aimdb running", nil)) == 1 })
	waitLog("the connector connected", func(ls []map[string]any) bool {
		return len(find(ls, "connector state changed", map[string]string{"instance": "lb", "state": "connected"})) == 1
	})

	if err := os.WriteFile(down, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := aimdb(t, in.env, "record", "set", "cmd.in", `1`); r.code != 0 {
		t.Fatal(r)
	}
	link := map[string]string{"record": "cmd.in", "link": "lb://out/x"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	waitLog("the outage", func(ls []map[string]any) bool {
		return len(find(ls, "link state changed", with(link, "state", "retrying"))) == 1 &&
			len(find(ls, "connector state changed", map[string]string{"instance": "lb", "state": "unhealthy", "was": "connected"})) == 1
	})
	if err := os.Remove(down); err != nil {
		t.Fatal(err)
	}
	waitLog("the recovery", func(ls []map[string]any) bool {
		return len(find(ls, "link state changed", with(link, "state", "ok", "was", "retrying"))) == 1 &&
			len(find(ls, "connector state changed", map[string]string{"instance": "lb", "state": "connected", "was": "unhealthy"})) == 1
	})
	if code := in.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}

	lines := logLines(t, in.logs())
	start := find(lines, "aimdb running", nil)[0]
	for _, k := range []string{"control", "dashboard", "metrics", "health", "ready", "ws", "config", "version"} {
		if v, _ := start[k].(string); v == "" {
			t.Errorf("the start line has no %s: %v", k, start)
		}
	}
	if start["control"] != in.addr || !strings.HasSuffix(fmt.Sprint(start["metrics"]), "/metrics") ||
		!strings.HasSuffix(fmt.Sprint(start["health"]), "/healthz") || !strings.HasSuffix(fmt.Sprint(start["ready"]), "/readyz") ||
		!strings.HasPrefix(fmt.Sprint(start["ws"]), "ws://") || !strings.HasSuffix(fmt.Sprint(start["dashboard"]), "/") {
		t.Errorf("start line: %v", start)
	}
	if retry := find(lines, "link state changed", with(link, "state", "retrying"))[0]; !strings.Contains(fmt.Sprint(retry["error"]), "connection failed") || retry["@level"] != "warn" {
		t.Errorf("the link's outage line: %v", retry)
	}
	plugin := 0
	for _, l := range lines {
		if strings.HasPrefix(fmt.Sprint(l["@module"]), "aimdb.plugin") {
			plugin++
		}
	}
	if plugin == 0 {
		t.Errorf("no line of the plugin's in the log")
	}

	r := aimdb(t, nil, "run", "--config", "x.hcl", "--log-format", "xml")
	if r.code != 2 || !strings.Contains(r.stderr, `--log-format "xml": want text or json`) {
		t.Errorf("--log-format xml: %+v", r)
	}
}
