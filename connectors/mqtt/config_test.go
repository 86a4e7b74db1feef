package mqtt_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/internal/testpki"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

func validator() sdk.ConfigValidator { return mqtt.NewBuilder().(sdk.ConfigValidator) }

func TestValidateConfigAcceptsGoodConfig(t *testing.T) {
	err := validator().ValidateConfig(sdk.MustParseURL("mqtts://user:pw@broker.example,backup.example:8884"), sdk.Config{
		"client_id": "plant-a", "keepalive": "10s", "clean_session": "false", "status_topic": "aimdb/plant-a/status",
		"tls_ca_file": testpki.New(t).CA, "reconnect_max": "1m",
	}, []sdk.LinkSpec{
		{Direction: sdk.Outbound, Resource: "sensors/temp", Config: sdk.Config{"qos": "2", "retain": "true"}, Record: "temp"},
		{Direction: sdk.Inbound, Resource: "cmd/+/set", Config: sdk.Config{"qos": "0"}, Record: "cmd"},
		{Direction: sdk.Inbound, Resource: "all/#", Record: "all"},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEmptyURLMeansLocalBroker(t *testing.T) {
	inst, err := run.Start(context.Background(), mqtt.NewBuilder(), run.Config{Name: "mqtt"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	if got := inst.Connector().(*mqtt.Connector).BrokerAddrs(); len(got) != 1 || got[0] != "127.0.0.1:1883" {
		t.Fatalf("brokers = %v", got)
	}
}

func TestValidateConfigNamesEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		url   string
		opts  sdk.Config
		links []sdk.LinkSpec
		says  []string
	}{
		{"scheme", "kafka://h", nil, nil, []string{`scheme "kafka"`}},
		{"unknown option", "mqtt://h", sdk.Config{"qso": "1"}, nil, []string{`unknown option "qso"`}},
		{"bad port", "mqtt://h:99999", nil, nil, []string{"99999"}},
		{"topic in url", "mqtt://h/sensors/x", nil, nil, []string{"names brokers only"}},
		{"bad duration", "mqtt://h", sdk.Config{"keepalive": "soon"}, nil, []string{`"keepalive"`}},
		{"bad bool", "mqtt://h", sdk.Config{"clean_session": "maybe"}, nil, []string{`"clean_session"`}},
		{"tls on mqtt", "mqtt://h", sdk.Config{"tls_ca_file": "ca.pem"}, nil, []string{`"tls_ca_file" needs an mqtts://`}},
		{"half a key pair", "mqtts://h", sdk.Config{"tls_cert_file": "c.pem"}, nil, []string{`"tls_key_file"`}},
		{"status wildcard", "mqtt://h", sdk.Config{"status_topic": "s/#"}, nil, []string{`"status_topic"`, "wildcard"}},
		{"status qos", "mqtt://h", sdk.Config{"status_qos": "5"}, nil, []string{`"status_qos"`}},
		{"reconnect order", "mqtt://h", sdk.Config{"reconnect_min": "10s", "reconnect_max": "1s"}, nil, []string{`"reconnect_max"`}},
		{"payload limit", "mqtt://h", sdk.Config{"max_payload": "300000000"}, nil, []string{`"max_payload"`}},
		{"conflicting user", "mqtt://a:b@h", sdk.Config{"username": "c"}, nil, []string{`"username" conflicts`}},
		{"embedded with tls", "mqtts://h", sdk.Config{"embedded_broker": "127.0.0.1:1883"}, nil, []string{`"embedded_broker"`}},
		{"embedded address", "mqtt://h", sdk.Config{"embedded_broker": "1883"}, nil, []string{`"embedded_broker"`}},
		{"link qos", "mqtt://h", nil, []sdk.LinkSpec{{Direction: sdk.Outbound, Resource: "a/b", Config: sdk.Config{"qos": "3"}, Record: "rec"}},
			[]string{`link_to "a/b" (record "rec"): option "qos"`, `"qos"`}},
		{"link_to wildcard", "mqtt://h", nil, []sdk.LinkSpec{{Direction: sdk.Outbound, Resource: "a/+", Record: "rec"}},
			[]string{`link_to "a/+" (record "rec")`, "wildcard"}},
		{"link_from pattern", "mqtt://h", nil, []sdk.LinkSpec{{Direction: sdk.Inbound, Resource: "a/#/b", Record: "in"}},
			[]string{`link_from "a/#/b" (record "in")`, "last level"}},
		{"link unknown option", "mqtt://h", nil, []sdk.LinkSpec{{Direction: sdk.Inbound, Resource: "a", Config: sdk.Config{"retain": "true"}, Record: "in"}},
			[]string{`link_from "a" (record "in"): unknown option "retain"`}},
		{"several at once", "mqtt://h", sdk.Config{"qso": "1"}, []sdk.LinkSpec{{Direction: sdk.Outbound, Resource: "a/+", Record: "r"}},
			[]string{`"qso"`, `link_to "a/+" (record "r")`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := sdk.ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			err = validator().ValidateConfig(u, tc.opts, tc.links)
			if err == nil {
				t.Fatal("no error")
			}
			for _, e := range sdk.Split(err) {
				if k := sdk.KindOf(e); k != sdk.KindInvalidConfig && k != sdk.KindInvalidDestination && k != sdk.KindUnsupportedQoS {
					t.Errorf("kind of %q = %v, want a configuration mistake", e, k)
				}
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

func TestBuildRejectsBadRoutes(t *testing.T) {
	_, err := run.Start(context.Background(), mqtt.NewBuilder(), run.Config{
		Name: "mqtt", URL: sdk.MustParseURL("mqtt://127.0.0.1:1"),
		Routes: []sdk.Route{{ID: 1, Resource: "a/b", Record: "ok"}, {ID: 2, Resource: "x/+", Config: sdk.Config{"qos": "7"}, Record: "bad"}},
	})
	if sdk.KindOf(err) != sdk.KindUnsupportedQoS || !strings.Contains(err.Error(), `record "bad"`) || !strings.Contains(err.Error(), `"7"`) {
		t.Fatalf("err = %v", err)
	}
	_, err = run.Start(context.Background(), mqtt.NewBuilder(), run.Config{
		Name: "mqtt", URL: sdk.MustParseURL("mqtt://h"), Options: sdk.Config{"password": "hunter2"},
	})
	if sdk.KindOf(err) != sdk.KindInvalidConfig || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

func TestDescribeDocumentsEveryOption(t *testing.T) {
	d := mqtt.NewBuilder().(sdk.Describer).Describe()
	if d.Version == "" || d.MaxPayload < 0 {
		t.Fatalf("description %+v", d)
	}
	for _, c := range []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards, sdk.CapAckCommit, sdk.CapHealth} {
		if !contains(d.Capabilities, c) {
			t.Errorf("capability %q missing", c)
		}
	}
	seen := map[string]bool{}
	connector := sdk.Config{}
	for _, o := range d.Options {
		key := o.Scope + "/" + o.Name
		if seen[key] || o.Doc == "" || strings.Contains(o.Doc, "\n") {
			t.Errorf("option %s: duplicate or without a one-line doc", key)
		}
		seen[key] = true
		switch o.Scope {
		case sdk.ScopeConnector:
			if o.Default != "" && !strings.Contains(o.Default, "<") {
				connector[o.Name] = o.Default
			}
		case sdk.ScopeLinkTo, sdk.ScopeLinkFrom:
		default:
			t.Errorf("option %s: unknown scope", key)
		}
	}
	if !seen["connector/password"] || !d.Options[indexOf(d.Options, "password")].Secret {
		t.Error("password must be documented as secret")
	}
	// Every documented default is itself a valid setting (with protocol = 5, which the
	// MQTT 5 options need).
	connector["protocol"] = "5"
	if err := validator().ValidateConfig(sdk.MustParseURL("mqtts://h"), connector, []sdk.LinkSpec{
		{Direction: sdk.Outbound, Resource: "a", Config: sdk.Config{"qos": "1", "retain": "false"}},
		{Direction: sdk.Inbound, Resource: "a", Config: sdk.Config{"qos": "1"}},
	}); err != nil {
		t.Fatalf("documented defaults do not validate: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func indexOf(opts []sdk.OptionDoc, name string) int {
	for i, o := range opts {
		if o.Name == name {
			return i
		}
	}
	return -1
}
