package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Without --peer, the checks that need none link to names the kind accepts: Kafka
// topics, KNX group addresses and Modbus register ranges by default, and
// --resource's names when given.
func TestConformanceDefaultResources(t *testing.T) {
	only := []string{"--only", "lifecycle/,publish/too-large", "--timeout", "3s"}
	for _, c := range []struct{ plugin, url string }{
		{"kafka", "kafka://127.0.0.1:9"},
		{"knx", "knx://127.0.0.1:9"},
		{"modbus", "modbus://127.0.0.1:9"},
	} {
		t.Run(c.plugin, func(t *testing.T) {
			bin := filepath.Join(realPluginDir, c.plugin)
			r := aimdb(t, nil, append([]string{"conformance", bin, "--url", c.url}, only...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "pass  lifecycle/build-close") || !strings.Contains(r.stdout, "pass  publish/too-large") {
				t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
	// Names KNX cannot take fail its builds, naming the group address.
	r := aimdb(t, nil, append([]string{"conformance", filepath.Join(realPluginDir, "knx"), "--url", "knx://127.0.0.1:9",
		"--resource", "conformance/a,conformance/b,conformance/c"}, only...)...)
	if r.code != 1 || !strings.Contains(r.stdout, `FAIL  lifecycle/build-close: `) || !strings.Contains(r.stdout, `group address "conformance/`) {
		t.Errorf("with --resource conformance/a,...: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := aimdb(t, nil, "conformance", filepath.Join(realPluginDir, "knx"), "--url", "knx://127.0.0.1:9", "--resource", "a,b"); r.code != 2 ||
		!strings.Contains(r.stderr, "--resource: the checks need 3 names, got 2") {
		t.Errorf("two --resource names: exit %d\n%s", r.code, r.stderr)
	}
}
