package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/host"
)

const locateSrc = `connector "plant-b" {
  plugin = "mqttx"
  url    = "mqtt://u:secret@10.0.0.2"
  qos    = 7
}
record "a" {
  link_to "plant-b://t" {
    retain = "maybe"
  }
  link_from "knx://1/2/3" {}
}
`

func TestLocate(t *testing.T) {
	cfg, diags := Parse([]byte(locateSrc), "l.hcl")
	if diags.HasErrors() {
		t.Fatal(Format(diags))
	}
	errs := errors.Join(
		&host.ConfigError{Record: "a", URL: "plant-b://t", Err: errors.New(`option "retain": want true or false`)},
		&host.ConfigError{Record: "a", URL: "knx://1/2/3", Err: errors.New("no connector instance or kind named \"knx\"")},
		&host.ConfigError{Record: "a", Err: errors.New("cycle")},
		&host.ConfigError{Err: fmt.Errorf(`connector instance "plant-b": no connector kind "mqttx" (kinds: mqtt)`)},
		&host.ConfigError{Err: fmt.Errorf(`connector instance "plant-b" (kind "mqtt"): invalid config: option "qos": 7 is out of range 0..2`)},
		&host.ConfigError{Err: fmt.Errorf(`connector instance "plant-b" (kind "mqtt"): url mqtt://u:***@10.0.0.2: bad port`)},
		&host.ConfigError{Err: fmt.Errorf(`connector instance "knx": gateway unreachable`)},
		errors.New("plugin directory plugins: no such file"),
	)
	got := Format(cfg.Locate(errs))
	want := `Invalid configuration: plugin directory plugins: no such file
l.hcl:2:12: Invalid configuration: connector instance "plant-b": no connector kind "mqttx" (kinds: mqtt)
l.hcl:3:12: Invalid configuration: connector instance "plant-b" (kind "mqtt"): url mqtt://u:***@10.0.0.2: bad port
l.hcl:4:3: Invalid configuration: connector instance "plant-b" (kind "mqtt"): invalid config: option "qos": 7 is out of range 0..2
l.hcl:6:8: Invalid configuration: record "a": cycle
l.hcl:8:5: Invalid configuration: record "a": link "plant-b://t": option "retain": want true or false
l.hcl:10:13: Invalid configuration: record "a": link "knx://1/2/3": no connector instance or kind named "knx"
l.hcl:10:13: Invalid configuration: connector instance "knx": gateway unreachable
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestApply builds the records of a configuration with the real host and checks what
// the host made of them.
func TestApply(t *testing.T) {
	src := `record "ring" {
  capacity = 8
  link_to "lb://out" {
    codec = "text"
    qos   = 1
  }
}
record "latest" {
  buffer   = "single_latest"
  writable = true
}
record "box" { buffer = "mailbox" }
`
	cfg, diags := Parse([]byte(src), "a.hcl")
	if diags.HasErrors() {
		t.Fatal(Format(diags))
	}
	b := host.NewBuilder()
	cfg.Apply(b)
	// No connector layer: the link is built but nothing checks its scheme.
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	for _, r := range db.Records() {
		got = append(got, fmt.Sprintf("%s %s %d %v %s", r.Key, r.Buffer, r.Capacity, r.Writable, r.Type))
	}
	want := "ring spmc_ring 8 false json.RawMessage|latest single_latest 1 true json.RawMessage|box mailbox 1 false json.RawMessage|aimdb.dead_letters spmc_ring 1024 false json.RawMessage"
	if strings.Join(got, "|") != want {
		t.Errorf("records:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	links := db.Links()
	if len(links) != 1 || links[0].Codec != "text" || links[0].Options["qos"] != "1" || links[0].URL.Resource() != "out" {
		t.Errorf("links = %+v", links)
	}
	if err := db.SetJSON("latest", json.RawMessage(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if v, err := db.GetJSON("latest"); err != nil || string(v) != `{"x":1}` {
		t.Errorf("latest = %s, %v", v, err)
	}
}
