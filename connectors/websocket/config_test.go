package websocket_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/connectors/websocket"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// TestValidateConfig: every mistake is invalid config (or invalid destination) tied
// to its option and, for a link, to the link, with a message saying what is wrong.
func TestValidateConfig(t *testing.T) {
	t.Setenv("WS_CFG_TOKEN", "t")
	v := websocket.NewBuilder().(sdk.ConfigValidator)
	for _, c := range []struct {
		name   string
		url    string
		opts   sdk.Config
		links  []sdk.LinkSpec
		option string // where the finding must be
		link   bool   // whether it is tied to the link
		kind   sdk.ErrorKind
		says   string
	}{
		{name: "scheme", url: "http://h:1", option: "url", kind: sdk.KindInvalidConfig, says: "not ws:// or wss://"},
		{name: "two hosts", url: "ws://a:1,b:2", option: "url", kind: sdk.KindInvalidConfig, says: "exactly one host"},
		{name: "credentials", url: "ws://u:p@h:1", option: "url", kind: sdk.KindInvalidConfig, says: "credentials do not go in the URL"},
		{name: "port", url: "ws://h:99999", option: "url", kind: sdk.KindInvalidConfig, says: "99999"},
		{name: "unknown", url: "ws://h", opts: sdk.Config{"ping_intervall": "1s"}, option: "ping_intervall", kind: sdk.KindInvalidConfig, says: `did you mean "ping_interval"`},
		{name: "duration", url: "ws://h", opts: sdk.Config{"pong_timeout": "soon"}, option: "pong_timeout", kind: sdk.KindInvalidConfig, says: "duration"},
		{name: "zero pong", url: "ws://h", opts: sdk.Config{"pong_timeout": "0s"}, option: "pong_timeout", kind: sdk.KindInvalidConfig, says: "greater than 0"},
		{name: "reconnect order", url: "ws://h", opts: sdk.Config{"reconnect_min": "2s", "reconnect_max": "1s"}, option: "reconnect_max", kind: sdk.KindInvalidConfig, says: "shorter than"},
		{name: "max payload", url: "ws://h", opts: sdk.Config{"max_payload": "0"}, option: "max_payload", kind: sdk.KindInvalidConfig, says: "out of range"},
		{name: "tls on ws", url: "ws://h", opts: sdk.Config{"tls_ca_file": "ca.pem"}, option: "tls_ca_file", kind: sdk.KindInvalidConfig, says: "needs a wss:// URL"},
		{name: "ca file", url: "wss://h", opts: sdk.Config{"tls_ca_file": "/nonexistent/ca.pem"}, option: "tls_ca_file", kind: sdk.KindInvalidConfig, says: "no such file"},
		{name: "cert without key", url: "wss://h", opts: sdk.Config{"tls_cert_file": "c.pem"}, option: "tls_cert_file", kind: sdk.KindInvalidConfig, says: "go together"},
		{name: "token env", url: "ws://h", opts: sdk.Config{"token_env": "WS_CFG_UNSET"}, option: "token_env", kind: sdk.KindInvalidConfig, says: `"WS_CFG_UNSET" is not set`},
		{name: "token twice", url: "ws://h", opts: sdk.Config{"token_env": "WS_CFG_TOKEN", "headers": "Authorization: x"}, option: "token_env", kind: sdk.KindInvalidConfig, says: "given already"},
		{name: "header form", url: "ws://h", opts: sdk.Config{"headers": "X-A value"}, option: "headers", kind: sdk.KindInvalidConfig, says: `"Name: value"`},
		{name: "reserved header", url: "ws://h", opts: sdk.Config{"headers": "Sec-WebSocket-Protocol: x"}, option: "headers", kind: sdk.KindInvalidConfig, says: "set by the WebSocket handshake"},
		{name: "subprotocol", url: "ws://h", opts: sdk.Config{"subprotocols": "a b"}, option: "subprotocols", kind: sdk.KindInvalidConfig, says: "not a valid subprotocol"},
		{name: "payload field alone", url: "ws://h", opts: sdk.Config{"payload_field": "data"}, option: "payload_field", kind: sdk.KindInvalidConfig, says: `needs "route_field"`},
		{name: "route field path", url: "ws://h", opts: sdk.Config{"route_field": "meta..topic"}, option: "route_field", kind: sdk.KindInvalidConfig, says: "empty part"},
		{name: "fields overlap", url: "ws://h", opts: sdk.Config{"route_field": "meta", "payload_field": "meta.value"}, option: "payload_field", kind: sdk.KindInvalidConfig, says: "overlaps"},
		{name: "wildcard per connection", url: "ws://h", links: []sdk.LinkSpec{{ID: 1, Direction: sdk.Inbound, Resource: "a/+", Record: "r"}},
			link: true, kind: sdk.KindInvalidDestination, says: "patterns need option \"route_field\""},
		{name: "bad pattern", url: "ws://h", opts: sdk.Config{"route_field": "topic"}, links: []sdk.LinkSpec{{ID: 1, Direction: sdk.Inbound, Resource: "a/#/b", Record: "r"}},
			link: true, kind: sdk.KindInvalidDestination, says: "#"},
		{name: "link_to whole frames", url: "ws://h", opts: sdk.Config{"route_field": "topic", "payload_field": ""}, links: []sdk.LinkSpec{{ID: 1, Direction: sdk.Outbound, Resource: "a", Record: "r"}},
			link: true, kind: sdk.KindInvalidConfig, says: "needs option \"payload_field\""},
		{name: "frame", url: "ws://h", links: []sdk.LinkSpec{{ID: 1, Direction: sdk.Outbound, Resource: "a", Record: "r", Config: sdk.Config{"frame": "json"}}},
			option: "frame", link: true, kind: sdk.KindInvalidConfig, says: `"json" is not one of auto, text, binary`},
		{name: "confirm", url: "ws://h", links: []sdk.LinkSpec{{ID: 1, Direction: sdk.Outbound, Resource: "a", Record: "r", Config: sdk.Config{"confirm": "ack"}}},
			option: "confirm", link: true, kind: sdk.KindInvalidConfig, says: "not one of ping, none"},
		{name: "link_from option", url: "ws://h", links: []sdk.LinkSpec{{ID: 1, Direction: sdk.Inbound, Resource: "a", Record: "r", Config: sdk.Config{"frame": "text"}}},
			option: "frame", link: true, kind: sdk.KindInvalidConfig, says: "unknown option"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := sdk.ParseURL(c.url)
			if err != nil {
				t.Fatal(err)
			}
			err = v.ValidateConfig(u, c.opts, c.links)
			if err == nil {
				t.Fatal("no error")
			}
			var oe *sdk.OptionError
			if !errors.As(err, &oe) || oe.Option != c.option || (oe.Link != nil) != c.link {
				t.Fatalf("%v: finding at option %q (link %v), want option %q (link %v)", err, oeOption(oe), oe != nil && oe.Link != nil, c.option, c.link)
			}
			if sdk.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("%v: want kind %v saying %q", err, c.kind, c.says)
			}
		})
	}
	good := []sdk.LinkSpec{
		{ID: 1, Direction: sdk.Inbound, Resource: "sensors/+/temp", Record: "a"},
		{ID: 2, Direction: sdk.Outbound, Resource: "cmd/light", Record: "b", Config: sdk.Config{"confirm": "none"}},
	}
	if err := v.ValidateConfig(sdk.MustParseURL("wss://example.com/stream"), sdk.Config{"route_field": "topic", "token_env": "WS_CFG_TOKEN"}, good); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
}

func oeOption(oe *sdk.OptionError) string {
	if oe == nil {
		return "<none>"
	}
	return oe.Option
}

// TestDescribe: every option is documented once per scope, with the kind's scheme.
func TestDescribe(t *testing.T) {
	b := websocket.NewBuilder()
	if b.Scheme() != "websocket" {
		t.Fatalf("scheme %q", b.Scheme())
	}
	seen := map[string]bool{}
	for _, o := range b.(sdk.Describer).Describe().Options {
		key := o.Scope + "/" + o.Name
		if seen[key] || o.Doc == "" {
			t.Errorf("option %s documented twice or without text", key)
		}
		seen[key] = true
	}
}

// TestValidateConfigReportsEveryMistake: one check reports the connector's mistakes
// and every link's, each at its own option.
func TestValidateConfigReportsEveryMistake(t *testing.T) {
	v := websocket.NewBuilder().(sdk.ConfigValidator)
	err := v.ValidateConfig(sdk.MustParseURL("ws://h:1/x"), sdk.Config{"ping_intervl": "1s", "tls_ca_file": "ca.pem"}, []sdk.LinkSpec{
		{ID: 1, Direction: sdk.Inbound, Resource: "sensors/+", Record: "a"},
		{ID: 2, Direction: sdk.Outbound, Resource: "out", Record: "a", Config: sdk.Config{"frame": "json"}},
	})
	var got []string
	for _, e := range sdk.Split(err) {
		var oe *sdk.OptionError
		if !errors.As(e, &oe) {
			t.Fatalf("%v is not tied to an option", e)
		}
		where := oe.Option
		if oe.Link != nil {
			where = oe.Link.Resource + "/" + where
		}
		got = append(got, where)
	}
	if want := "ping_intervl tls_ca_file sensors/+/ out/frame"; strings.Join(got, " ") != want {
		t.Fatalf("findings at %q, want %q (%v)", strings.Join(got, " "), want, err)
	}
}
