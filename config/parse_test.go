package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

const sample = `connector "mqtt" {
  url       = "mqtt://127.0.0.1:1883"
  client_id = "aimdb-demo"
  keepalive = 30
}
connector "plant-b" {
  plugin = "mqtt"
  url    = "mqtt://10.0.0.2:1883"
}
record "sensors.temp" {
  buffer   = "spmc_ring"
  capacity = 16
  link_from "knx://1/2/3" { dpt = "9.001" }
  link_to   "mqtt://sensors/temp" {
    qos    = 1
    retain = true
    codec  = "text"
    ratio  = 0.5
  }
  link_to   "plant-b://sensors/temp" {}
}
record "cmd.light" {
  buffer   = "mailbox"
  writable = true
  link_from "mqtt://cmd/light" {}
  link_to   "knx://1/1/1"         { dpt = "1.001" }
}
record "plain" {}
`

func TestParseSample(t *testing.T) {
	cfg, diags := Parse([]byte(sample), "aimdb.hcl")
	if diags.HasErrors() {
		t.Fatalf("unexpected errors:\n%s", Format(diags))
	}
	if len(cfg.Connectors) != 2 || len(cfg.Records) != 3 {
		t.Fatalf("got %d connectors, %d records", len(cfg.Connectors), len(cfg.Records))
	}
	mq := cfg.Connector("mqtt")
	if mq.Plugin != "mqtt" || mq.URL.Hosts[0] != "127.0.0.1:1883" || mq.Options["client_id"] != "aimdb-demo" || mq.Options["keepalive"] != "30" {
		t.Errorf("connector mqtt = %+v", mq)
	}
	if _, ok := mq.Options["url"]; ok {
		t.Error("url must not be an option")
	}
	pb := cfg.Connector("plant-b")
	if pb.Plugin != "mqtt" || pb.PluginRange.Start.Line != 7 || pb.PluginRange.Start.Column != 12 {
		t.Errorf("plant-b plugin %q at %v", pb.Plugin, pb.PluginRange)
	}
	temp := cfg.Record("sensors.temp")
	if temp.Buffer != BufferSPMCRing || temp.Capacity != 16 || temp.Writable || len(temp.Links) != 3 {
		t.Fatalf("record sensors.temp = %+v", temp)
	}
	in := temp.Links[0]
	if in.Direction != sdk.Inbound || in.Instance != "knx" || in.Resource != "1/2/3" || in.Options["dpt"] != "9.001" || in.Codec != "json" {
		t.Errorf("link_from = %+v", in)
	}
	if in.Range.Start.Line != 13 || in.Range.Start.Column != 13 {
		t.Errorf("link_from range = %v", in.Range)
	}
	out := temp.Links[1]
	want := sdk.Config{"qos": "1", "retain": "true", "ratio": "0.5"}
	if out.Codec != "text" || len(out.Options) != len(want) {
		t.Errorf("link_to codec %q options %v", out.Codec, out.Options)
	}
	for k, v := range want {
		if out.Options[k] != v {
			t.Errorf("option %s = %q, want %q", k, out.Options[k], v)
		}
	}
	if temp.Links[2].Instance != "plant-b" || temp.Links[2].Resource != "sensors/temp" {
		t.Errorf("plant-b link = %+v", temp.Links[2])
	}
	light := cfg.Record("cmd.light")
	if light.Buffer != BufferMailbox || light.Capacity != 0 || !light.Writable {
		t.Errorf("cmd.light = %+v", light)
	}
	plain := cfg.Record("plain")
	if plain.Buffer != BufferSPMCRing || plain.Capacity != DefaultCapacity {
		t.Errorf("plain defaults = %+v", plain)
	}
	var inst []string
	for _, k := range cfg.Instances() {
		inst = append(inst, k.Name+"="+k.Plugin)
		if k.Name == "knx" && (!k.Implicit || k.DeclRange.Start.Line != 13) {
			t.Errorf("implicit knx instance = %+v", k)
		}
	}
	if got := strings.Join(inst, ","); got != "mqtt=mqtt,plant-b=mqtt,knx=knx" {
		t.Errorf("instances = %s", got)
	}
}

// TestParseErrors feeds one file holding many mistakes and expects every one of them,
// each at its exact position.
func TestParseErrors(t *testing.T) {
	src := `connector "mqtt" {
  url = "mqtt//nohost"
}
connector "mqtt" {}
connector "Bad" {}
widget "x" {}
record "a" {
  buffer   = "queue"
  colour   = "red"
}
record "b" {
  buffer   = "single_latest"
  capacity = 8
}
record "c" {
  capacity = 0
  link_from "mqtt://x" {}
  link_from "knx://1/2/3" {}
  link_to   "mqtt://out/#" {}
  link_to   "nope" {}
  link_to   "mqtt://y" { codec = "xml" }
  link_to   "mqtt://z" { qos = [1, 2] }
}
record "a" {}
record "d.*" {}
record "e" {
  capacity = 2.5
  writable = "yes"
  link_to "mqtt://w" {
    nested {}
  }
}
`
	cfg, diags := Parse([]byte(src), "bad.hcl")
	got := Format(diags)
	want := []string{
		`bad.hcl:2:9: Invalid URL: connector "mqtt": url "mqtt//nohost": missing "://"`,
		`bad.hcl:4:11: Duplicate connector: connector "mqtt" is already defined at bad.hcl:1:11`,
		`bad.hcl:5:11: Invalid connector name: connector "Bad"`,
		`bad.hcl:6:1: Unsupported block type: Blocks of type "widget" are not expected here.`,
		`bad.hcl:8:14: Invalid buffer kind: record "a": buffer "queue" is not one of spmc_ring, single_latest, mailbox`,
		`bad.hcl:9:3: Unsupported argument: An argument named "colour" is not expected here.`,
		`bad.hcl:13:3: Invalid capacity: record "b": capacity applies only to buffer "spmc_ring"`,
		`bad.hcl:16:14: Invalid capacity: record "c": capacity 0 is out of range 1..1048576`,
		`bad.hcl:18:13: Two writers on one record: record "c": link_from "knx://1/2/3" would be a second writer; the record already takes values from link_from "mqtt://x" at bad.hcl:17:13`,
		`bad.hcl:19:13: Invalid link URL: record "c": link_to "mqtt://out/#": a destination cannot hold the wildcards`,
		`bad.hcl:20:13: Invalid link URL: record "c": link_to: url "nope": missing "://"`,
		`bad.hcl:21:34: Invalid codec: record "c": link_to "mqtt://y": codec "xml" is not one of json, text, raw`,
		`bad.hcl:22:32: Invalid value: record "c": link_to "mqtt://z": "qos" must be a string, number or bool, got tuple`,
		`bad.hcl:24:8: Duplicate record: record "a" is already defined at bad.hcl:7:8`,
		`bad.hcl:25:8: Invalid record key: record "d.*": character '*' is not allowed`,
		`bad.hcl:27:14: Invalid capacity: record "e": capacity 2.5 is not a whole number`,
		`bad.hcl:28:14: Invalid value: record "e": "writable" must be a bool, got string`,
		`bad.hcl:30:5: Unexpected "nested" block: Blocks are not allowed here.`,
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != len(want) {
		t.Errorf("got %d diagnostics, want %d:\n%s", len(lines), len(want), got)
	}
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			line := "(none)"
			if i < len(lines) {
				line = lines[i]
			}
			t.Errorf("diagnostic %d:\n got  %s\n want %s...", i, line, w)
		}
	}
	// What parsed is kept for the checks that follow: blocks defined twice and links
	// too broken to use are left out, bad values leave their defaults.
	var got2 []string
	for _, k := range cfg.Connectors {
		got2 = append(got2, fmt.Sprintf("connector %s url=%q", k.Name, k.RawURL))
	}
	for _, r := range cfg.Records {
		var links []string
		for _, l := range r.Links {
			links = append(links, fmt.Sprintf("%s %s %s %v", l.Direction, l.RawURL, l.Codec, l.Options))
		}
		got2 = append(got2, fmt.Sprintf("record %s %s %d %v %v", r.Key, r.Buffer, r.Capacity, r.Writable, links))
	}
	want2 := []string{
		`connector mqtt url=""`,
		`connector Bad url=""`,
		`record a spmc_ring 256 false []`,
		`record b single_latest 0 false []`,
		`record c spmc_ring 256 false [link_from mqtt://x json map[] link_to mqtt://y json map[] link_to mqtt://z json map[]]`,
		`record e spmc_ring 256 false [link_to mqtt://w json map[]]`,
	}
	if strings.Join(got2, "\n") != strings.Join(want2, "\n") {
		t.Errorf("kept:\n%s\nwant:\n%s", strings.Join(got2, "\n"), strings.Join(want2, "\n"))
	}
}

func TestParseSyntaxError(t *testing.T) {
	src := "record \"a\" {\n  link_to \"mqtt://t\" { qos = 1, retain = true }\n}\n"
	_, diags := Parse([]byte(src), "s.hcl")
	got := Format(diags)
	if !strings.HasPrefix(got, "s.hcl:2:31: Invalid single-argument block definition") {
		t.Errorf("got %q", got)
	}
}

func TestEnvFunction(t *testing.T) {
	t.Setenv("AIMDB_TEST_SECRET", "s3cret")
	src := `connector "mqtt" {
  password = env("AIMDB_TEST_SECRET")
  user     = env("AIMDB_TEST_UNSET_VARIABLE")
}`
	_, diags := Parse([]byte(src), "e.hcl")
	got := Format(diags)
	if !strings.HasPrefix(got, `e.hcl:3:14: Error in function call`) || !strings.Contains(got, `"AIMDB_TEST_UNSET_VARIABLE" is not set`) {
		t.Errorf("got %q", got)
	}
	cfg, diags := Parse([]byte(`connector "mqtt" { password = env("AIMDB_TEST_SECRET") }`), "e.hcl")
	if diags.HasErrors() || cfg.Connector("mqtt").Options["password"] != "s3cret" {
		t.Errorf("env() = %v, %s", cfg, Format(diags))
	}
}

func TestParseFileMissing(t *testing.T) {
	_, diags := ParseFile(filepath.Join(t.TempDir(), "none.hcl"))
	if !diags.HasErrors() || !strings.Contains(Format(diags), "none.hcl") {
		t.Errorf("got %s", Format(diags))
	}
	p := filepath.Join(t.TempDir(), "ok.hcl")
	if err := os.WriteFile(p, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, diags := ParseFile(p); diags.HasErrors() {
		t.Error(Format(diags))
	}
}
