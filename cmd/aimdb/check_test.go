package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mistakes holds mistakes of every kind `aimdb check` finds, detectable together: an
// HCL syntax error, schema errors, a URL that does not parse strictly, options no
// connector documents (with a suggestion), a file option naming a device, and what
// the plugins' own checks find in link options and resources, each of which must land
// at its own file:line:col.
const mistakes = `connector "mqtt" {
  url        = "mqtt://%zz"
  keep_alive = "30s"
}
connector "knx" {
  url     = "knx://127.0.0.1:3671"
  ets_csv = "/dev/urandom"
}
record "a" {
  buffer = "queue"
  link_to "mqtt://out" {
    qos    = 7
    retian = true
  }
}
record "b" {
  link_to "mqtt://x" { qos = 1, retain = true }
}
record "c" {
  link_from "knx://1/8/3" {}
  link_to "nowhere://x" {}
}
`

// TestCheckFindsEveryMistake runs `aimdb check` once on a file with mistakes of every
// kind and expects all of them, sorted, each at its place; a plugin's finding about a
// link option lands at that option, not at the connector block.
func TestCheckFindsEveryMistake(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "m.hcl")
	if err := os.WriteFile(cfg, []byte(mistakes), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := aimdb(t, nil, "check", "--config", cfg, "--plugins", realPluginDir)
	if r.code != 1 {
		t.Fatalf("check: exit %d, want 1\n%s", r.code, r.stderr)
	}
	want := []string{
		`:2:16: Invalid URL: connector "mqtt": url "mqtt://%zz": host "%zz": character '%' is not allowed in a host name`,
		`:3:3: Invalid configuration: connector instance "mqtt": unknown option "keep_alive" (did you mean "keepalive"?)`,
		`:7:3: Invalid configuration: connector instance "knx": option "ets_csv": /dev/urandom is a character device, not a regular file`,
		`:10:12: Invalid buffer kind: record "a": buffer "queue" is not one of spmc_ring, single_latest, mailbox`,
		`:12:5: Invalid configuration: record "a": link "mqtt://out": unsupported QoS: option "qos": MQTT QoS is 0, 1 or 2, got "7"`,
		`:13:5: Invalid configuration: record "a": link "mqtt://out": unknown option "retian" (did you mean "retain"?)`,
		`:17:31: Invalid single-argument block definition`,
		`:20:13: Invalid configuration: record "c": link "knx://1/8/3": group address "1/8/3" (3-level notation): level "8" is out of range 0..7`,
		`:21:11: Invalid configuration: record "c": link "nowhere://x": no connector instance or kind named "nowhere"`,
	}
	got := strings.Split(strings.TrimSpace(r.stderr), "\n")
	for i := range max(len(got), len(want)) {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = cfg + want[i]
		}
		if !strings.HasPrefix(g, w) {
			t.Errorf("line %d:\n got  %s\n want %s...", i+1, g, w)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("check took %v; reading /dev/urandom must fail at once", d)
	}
}
