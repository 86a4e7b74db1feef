package benchbridge

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

func TestAimDBConfigParses(t *testing.T) {
	for _, f := range []seqload.Format{seqload.ASCII, seqload.JSON} {
		linger := 5 * time.Millisecond
		src := aimdbConfigFor(Setup{Port: 1883, QoS: 1, Format: f, Capacity: 65536}, &linger, "publishing")
		cfg, diags := config.Parse(src, "aimdb.hcl")
		if diags.HasErrors() {
			t.Fatalf("%v: %s\n%s", f, config.Format(diags), src)
		}
		if cfg.Record("bench.data") == nil || cfg.Connector("mqtt") == nil {
			t.Fatalf("%v: record or connector missing:\n%s", f, src)
		}
		want := map[seqload.Format]string{seqload.ASCII: `codec = "raw"`, seqload.JSON: `codec = "json"`}[f]
		if !strings.Contains(string(src), want) || !strings.Contains(string(src), "qos   = 1") || !strings.Contains(string(src), `plugin_linger = "5ms"`) || !strings.Contains(string(src), `tcp_quickack  = "publishing"`) {
			t.Errorf("%v: config lacks %s, qos 1, the linger or tcp_quickack:\n%s", f, want, src)
		}
	}
}

func TestNodeREDFlowWiresInToOut(t *testing.T) {
	b, err := noderedFlow(1883, 0)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []map[string]any
	if err := json.Unmarshal(b, &nodes); err != nil {
		t.Fatal(err)
	}
	byType := map[string]map[string]any{}
	for _, n := range nodes {
		byType[n["type"].(string)] = n
	}
	in, out, broker := byType["mqtt in"], byType["mqtt out"], byType["mqtt-broker"]
	if in["topic"] != InTopic || out["topic"] != OutTopic || broker["port"] != "1883" || broker["broker"] != "127.0.0.1" {
		t.Fatalf("flow = %s", b)
	}
	if wires := in["wires"].([]any)[0].([]any); len(wires) != 1 || wires[0] != out["id"] {
		t.Fatalf("mqtt in is not wired to mqtt out: %s", b)
	}
}
