package knx

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

func validator() sdk.ConfigValidator { return NewBuilder().(sdk.ConfigValidator) }

func TestValidateConfigAcceptsGoodConfig(t *testing.T) {
	links := []sdk.LinkSpec{
		{Direction: sdk.Inbound, Resource: "1/2/3", Config: sdk.Config{"dpt": "9.001", "read": "init"}, Record: "temp"},
		{Direction: sdk.Inbound, Resource: "2/+/+", Record: "raw"},
		{Direction: sdk.Outbound, Resource: "1/2/4", Config: sdk.Config{"dpt": "DPST-1-1", "respond": "true"}, Record: "light"},
		{Direction: sdk.Outbound, Resource: "4097", Record: "free"},
	}
	for _, u := range []string{"knx://127.0.0.1:3671", "knx://gateway.local", "knx+routing://224.0.23.12:3671"} {
		if err := validator().ValidateConfig(sdk.MustParseURL(u), sdk.Config{"heartbeat": "30s", "rate_limit": "20"}, links); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	// No connector block: the host passes an empty URL; a local gateway is assumed.
	if err := validator().ValidateConfig(sdk.URL{}, nil, links); err != nil {
		t.Errorf("empty URL: %v", err)
	}
	if s, err := parseSettings(sdk.URL{}, nil); err != nil || s.gateway != "127.0.0.1:3671" || s.mode != modeTunnel {
		t.Errorf("empty URL settings %+v, %v", s, err)
	}
}

// TestValidateConfigErrors checks that each problem is an invalid-config error naming
// the link (or option) and the bad value.
func TestValidateConfigErrors(t *testing.T) {
	tunnel := sdk.MustParseURL("knx://127.0.0.1:3671")
	in := func(res string, cfg sdk.Config) []sdk.LinkSpec {
		return []sdk.LinkSpec{{Direction: sdk.Inbound, Resource: res, Config: cfg, Record: "rec"}}
	}
	out := func(res string, cfg sdk.Config) []sdk.LinkSpec {
		return []sdk.LinkSpec{{Direction: sdk.Outbound, Resource: res, Config: cfg, Record: "rec"}}
	}
	cases := []struct {
		name  string
		url   sdk.URL
		opts  sdk.Config
		links []sdk.LinkSpec
		want  []string
	}{
		{"bad group address", tunnel, nil, out("1/8/3", nil), []string{`link_to "1/8/3" (record "rec")`, `"8" is out of range 0..7`}},
		{"wildcard outbound", tunnel, nil, out("1/2/+", nil), []string{`link_to "1/2/+" (record "rec")`}},
		{"2-level out of range", tunnel, nil, in("1/2051", nil), []string{`link_from "1/2051" (record "rec")`, "0..2047"}},
		{"unknown dpt", tunnel, nil, in("1/2/3", sdk.Config{"dpt": "9.999"}), []string{`link_from "1/2/3" (record "rec"): option "dpt"`, `dpt "9.999" is not a known datapoint type`}},
		{"unknown link option", tunnel, nil, out("1/2/3", sdk.Config{"read": "init"}), []string{`link_to "1/2/3" (record "rec"): unknown option "read"`}},
		{"bad read", tunnel, nil, in("1/2/3", sdk.Config{"read": "always"}), []string{`"always" is not one of none, init`}},
		{"read init on pattern", tunnel, nil, in("1/2/+", sdk.Config{"read": "init"}), []string{`read = "init" needs one group address`}},
		{"bad respond", tunnel, nil, out("1/2/3", sdk.Config{"respond": "yes"}), []string{`option "respond"`, `"yes"`}},
		{"bad pattern level", tunnel, nil, in("1/x/+", nil), []string{`link_from "1/x/+" (record "rec")`, `level "x"`}},
		{"pattern middle out of range", tunnel, nil, in("1/9/+", nil), []string{`level "9" is not a number in 0..7`}},
		{"pattern main out of range", tunnel, nil, in("32/#", nil), []string{`level "32" is not a number in 0..31`}},
		{"pattern 2-level sub out of range", tunnel, nil, in("+/2048", nil), []string{`level "2048" is not a number in 0..2047`}},
		{"pattern too deep", tunnel, nil, in("1/2/3/+", nil), []string{"at most 3 levels"}},
		{"overlapping dpts", tunnel, nil, []sdk.LinkSpec{
			{Direction: sdk.Inbound, Resource: "1/2/3", Config: sdk.Config{"dpt": "9.001"}, Record: "a"},
			{Direction: sdk.Inbound, Resource: "1/+/3", Config: sdk.Config{"dpt": "5.001"}, Record: "b"},
		}, []string{`link_from "knx://1/2/3" (record "a") (dpt 9.001)`, `link_from "knx://1/+/3" (record "b") (dpt 5.001)`}},
		{"hash with mixed notations", tunnel, nil, []sdk.LinkSpec{
			{Direction: sdk.Inbound, Resource: "#", Record: "all"},
			{Direction: sdk.Inbound, Resource: "1/2/3", Record: "a"},
			{Direction: sdk.Inbound, Resource: "1/515", Record: "b"},
		}, []string{`"#" pattern needs all inbound links`}},
		{"unknown option", tunnel, sdk.Config{"heartbeet": "1s"}, nil, []string{`unknown option "heartbeet"`}},
		{"bad duration", tunnel, sdk.Config{"heartbeat": "soon"}, nil, []string{`option "heartbeat"`, `"soon"`}},
		{"zero duration", tunnel, sdk.Config{"ack_timeout": "0s"}, nil, []string{`option "ack_timeout": must be greater than 0`}},
		{"bad rate", tunnel, sdk.Config{"rate_limit": "100000"}, nil, []string{`option "rate_limit"`, "0..10000"}},
		{"bad address", tunnel, sdk.Config{"address": "1.1"}, nil, []string{`option "address"`, `"1.1"`}},
		{"bad mode", tunnel, sdk.Config{"mode": "bus"}, nil, []string{`option "mode"`, `"bus"`}},
		{"backoff order", tunnel, sdk.Config{"reconnect_min": "10s", "reconnect_max": "1s"}, nil, []string{`"reconnect_max" (1s) is shorter`}},
		{"routing to unicast", sdk.MustParseURL("knx+routing://127.0.0.1:3671"), nil, nil, []string{"needs an IPv4 multicast group", `"127.0.0.1"`}},
		{"tunnel to multicast", sdk.MustParseURL("knx://224.0.23.12"), nil, nil, []string{"is a multicast group"}},
		{"two gateways", sdk.MustParseURL("knx://a:1,b:2"), nil, nil, []string{"one gateway"}},
		{"bad port", sdk.MustParseURL("knx://127.0.0.1:99999"), nil, nil, []string{`port "99999"`}},
		{"wrong scheme", sdk.MustParseURL("mqtt://127.0.0.1"), nil, nil, []string{`scheme "mqtt"`}},
	}
	for _, c := range cases {
		err := validator().ValidateConfig(c.url, c.opts, c.links)
		if err == nil {
			t.Errorf("%s: want an error", c.name)
			continue
		}
		if sdk.KindOf(err) != sdk.KindInvalidConfig {
			t.Errorf("%s: kind %s, want invalid config (%v)", c.name, sdk.KindOf(err), err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
}

func TestBuildRejectsBadRoutes(t *testing.T) {
	_, err := run.Start(context.Background(), NewBuilder(), run.Config{
		Name: "plant", URL: sdk.MustParseURL("knx://127.0.0.1:3671"),
		Routes: []sdk.Route{{ID: 1, Resource: "1/2/3", Config: sdk.Config{"dpt": "42.042"}, Record: "temp"}},
	})
	if sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), `knx connector "plant"`) || !strings.Contains(err.Error(), "42.042") {
		t.Fatalf("Start = %v, want an invalid-config error naming the instance and the dpt", err)
	}
}

func TestPublishErrors(t *testing.T) {
	g := newFakeGateway(t)
	inst := startConnector(t, g.url(), fastOptions(nil), nil, nil, nil)
	g.accept(1)
	for _, c := range []struct {
		dest    string
		cfg     sdk.Config
		payload string
		kind    sdk.ErrorKind
		want    string
	}{
		{"1/2/300", nil, "\x01", sdk.KindInvalidDestination, `"300" is out of range 0..255`},
		{"1/2/3", sdk.Config{"dpt": "9.001"}, "-300", sdk.KindRejected, "DPT 9.001 (temperature (°C)): -300 is out of range -273..670760 °C"},
		{"1/2/3", sdk.Config{"dpt": "1.001"}, `"on"`, sdk.KindRejected, "want true or false"},
		{"1/2/3", nil, "", sdk.KindRejected, "raw payload is empty"},
		{"1/2/3", sdk.Config{"dpt": "nope"}, "1", sdk.KindInvalidConfig, `dpt "nope"`},
	} {
		err := inst.Publish(t.Context(), c.dest, c.cfg, []byte(c.payload))
		if sdk.KindOf(err) != c.kind || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Publish(%s, %q) = %v, want %s error containing %q", c.dest, c.payload, err, c.kind, c.want)
		}
	}
	g.quiet(50 * time.Millisecond)
}

func TestDescribe(t *testing.T) {
	d := NewBuilder().(sdk.Describer).Describe()
	if d.Version == "" || d.MaxPayload != maxData {
		t.Errorf("Describe = %+v", d)
	}
	scopes := map[string]bool{}
	for _, o := range d.Options {
		if o.Doc == "" {
			t.Errorf("option %q has no doc", o.Name)
		}
		scopes[o.Name+"@"+o.Scope] = true
	}
	for _, want := range []string{"heartbeat@connector", "rate_limit@connector", "dpt@link_to", "dpt@link_from", "read@link_from", "respond@link_to"} {
		if !scopes[want] {
			t.Errorf("Describe lacks option %s", want)
		}
	}
	caps := strings.Join(d.Capabilities, ",")
	for _, c := range []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards, sdk.CapHealth, sdk.CapLatest} {
		if !strings.Contains(caps, c) {
			t.Errorf("capabilities %q lack %q", caps, c)
		}
	}
}

func TestPatternsOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"1/2/3", "1/2/3", true}, {"1/2/3", "1/2/4", false}, {"1/+/3", "1/2/3", true}, {"1/+/3", "1/2/4", false},
		{"#", "1/515", true}, {"1/#", "1", true}, {"1/#", "2/0/1", false}, {"1/2", "1/2/3", false}, {"+/+", "1/2/3", false},
	} {
		if got := patternsOverlap(c.a, c.b); got != c.want {
			t.Errorf("patternsOverlap(%q, %q) = %v", c.a, c.b, got)
		}
		if got := patternsOverlap(c.b, c.a); got != c.want {
			t.Errorf("patternsOverlap(%q, %q) = %v", c.b, c.a, got)
		}
	}
}
