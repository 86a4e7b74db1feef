package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/sdk"
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

// TestLocate places each error where its fields say, whatever its message says.
func TestLocate(t *testing.T) {
	cfg, diags := Parse([]byte(locateSrc), "l.hcl")
	if diags.HasErrors() {
		t.Fatal(Format(diags))
	}
	errs := errors.Join(
		&host.ConfigError{Record: "a", URL: "plant-b://t", Direction: sdk.Outbound, Option: "retain", Err: errors.New("want true or false")},
		&host.ConfigError{Record: "a", URL: "knx://1/2/3", Direction: sdk.Inbound, Err: errors.New("no instance")},
		&host.ConfigError{Record: "a", URL: "knx://1/2/3", Direction: sdk.Outbound, Err: errors.New("other direction: the record")},
		&host.ConfigError{Record: "a", Err: errors.New("cycle")},
		&host.ConfigError{Instance: "plant-b", Option: "plugin", Err: errors.New("no kind")},
		&host.ConfigError{Instance: "plant-b", Option: "url", Err: errors.New("bad port")},
		&host.ConfigError{Instance: "plant-b", Option: "qos", Err: errors.New("out of range")},
		&host.ConfigError{Instance: "plant-b", Option: "colour", Err: errors.New("an option the block lacks: the block")},
		&host.ConfigError{Instance: "knx", Err: errors.New("gateway unreachable")},
		errors.New("plugin directory plugins: no such file"),
	)
	got := Format(cfg.Locate(errs))
	want := `Invalid configuration: plugin directory plugins: no such file
l.hcl:1:11: Invalid configuration: connector instance "plant-b": an option the block lacks: the block
l.hcl:2:12: Invalid configuration: connector instance "plant-b": no kind
l.hcl:3:12: Invalid configuration: connector instance "plant-b": bad port
l.hcl:4:3: Invalid configuration: connector instance "plant-b": out of range
l.hcl:6:8: Invalid configuration: record "a": link "knx://1/2/3": other direction: the record
l.hcl:6:8: Invalid configuration: record "a": cycle
l.hcl:8:5: Invalid configuration: record "a": link "plant-b://t": want true or false
l.hcl:10:13: Invalid configuration: record "a": link "knx://1/2/3": no instance
l.hcl:10:13: Invalid configuration: connector instance "knx": gateway unreachable
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestLocateDropsFollowers drops what follows from a mistake Parse reported (a
// connector checked without its bad url, a record at its default buffer), but keeps
// what is about an option: a mistake of its own.
func TestLocateDropsFollowers(t *testing.T) {
	src := `connector "mqtt" {
  url = "mqtt://%zz"
  qos = 7
}
record "a" {
  buffer = "queue"
  link_to "mqtt://t" {
    qos   = 9
    codec = "xml"
  }
}
`
	cfg, diags := Parse([]byte(src), "f.hcl")
	if len(diags) != 3 {
		t.Fatalf("parse: want the url, the buffer and the codec:\n%s", Format(diags))
	}
	errs := errors.Join(
		&host.ConfigError{Instance: "mqtt", Err: errors.New("needs a url")},
		&host.ConfigError{Instance: "mqtt", Option: "url", Err: errors.New("url missing")},
		&host.ConfigError{Instance: "mqtt", Option: "qos", Err: errors.New("no qos here")},
		&host.ConfigError{Record: "a", Err: errors.New("about the buffer")},
		&host.ConfigError{Record: "a", URL: "mqtt://t", Err: errors.New("about the codec")},
		&host.ConfigError{Record: "a", URL: "mqtt://t", Option: "qos", Err: errors.New("qos out of range")},
	)
	got := Format(cfg.Locate(errs))
	want := `f.hcl:3:3: Invalid configuration: connector instance "mqtt": no qos here
f.hcl:8:5: Invalid configuration: record "a": link "mqtt://t": qos out of range
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
