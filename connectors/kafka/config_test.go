package kafka_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

func validator(t *testing.T) sdk.ConfigValidator {
	v, ok := kafka.NewBuilder().(sdk.ConfigValidator)
	if !ok {
		t.Fatal("the kafka builder does not implement sdk.ConfigValidator")
	}
	return v
}

func TestValidateConfig(t *testing.T) {
	t.Setenv("KAFKATEST_PW", "secret")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	to := func(topic string, cfg sdk.Config) []sdk.LinkSpec {
		return []sdk.LinkSpec{{Direction: sdk.Outbound, Resource: topic, Config: cfg, Record: "r"}}
	}
	from := func(topic string, cfg sdk.Config) sdk.LinkSpec {
		return sdk.LinkSpec{Direction: sdk.Inbound, Resource: topic, Config: cfg, Record: "r"}
	}
	cases := []struct {
		name  string
		url   string
		opts  sdk.Config
		links []sdk.LinkSpec
		want  string // substring of the error; "" means valid
	}{
		{"minimal", "kafka://127.0.0.1:9092", nil, nil, ""},
		{"several brokers and default port", "kafka://a:9092,b", nil, nil, ""},
		{"full", "kafka://u:secret@127.0.0.1:9092", sdk.Config{"sasl_mechanism": "SCRAM-SHA-512", "acks": "leader", "compression": "zstd", "linger": "5ms", "group": "g", "start_offset": "earliest"},
			append(to("events", sdk.Config{"key_field": "id", "acks": "all", "idempotent": "true"}), from("cmds", sdk.Config{"group": "other"})), ""},
		{"bad port", "kafka://127.0.0.1:99999", nil, nil, "port"},
		{"path in connector url", "kafka://127.0.0.1:9092/events", nil, nil, "unexpected path"},
		{"unknown option", "kafka://h", sdk.Config{"ackz": "all"}, nil, `"ackz"`},
		{"bad acks", "kafka://h", sdk.Config{"acks": "2"}, nil, `option "acks"`},
		{"idempotent needs acks=all", "kafka://h", sdk.Config{"acks": "leader", "idempotent": "true"}, nil, "acks = \"all\""},
		{"bad compression on link", "kafka://h", nil, to("t", sdk.Config{"compression": "brotli"}), `option "compression"`},
		{"key and key_field", "kafka://h", nil, to("t", sdk.Config{"key": "k", "key_field": "id"}), "exclude each other"},
		{"bad key_field", "kafka://h", nil, to("t", sdk.Config{"key_field": "a..b"}), "key_field"},
		{"link_from option on link_to", "kafka://h", nil, to("t", sdk.Config{"group": "g"}), `"group"`},
		{"link_to option on link_from", "kafka://h", nil, []sdk.LinkSpec{from("t", sdk.Config{"key": "k"})}, `"key"`},
		{"wildcard topic", "kafka://h", nil, []sdk.LinkSpec{from("sensors/+", nil)}, "not wildcards"},
		{"bad topic character", "kafka://h", nil, to("a b", nil), "not allowed"},
		{"start offsets disagree in a group", "kafka://h", nil, []sdk.LinkSpec{from("a", sdk.Config{"start_offset": "earliest"}), from("b", nil)}, "start_offset"},
		{"bad start offset", "kafka://h", sdk.Config{"start_offset": "beginning"}, nil, `option "start_offset"`},
		{"sasl without password", "kafka://h", sdk.Config{"sasl_user": "u"}, nil, "needs a user and a password"},
		{"credentials twice", "kafka://u:p@h", sdk.Config{"sasl_user": "u", "sasl_password": "p"}, nil, "given twice"},
		{"password from environment", "kafka://h", sdk.Config{"sasl_user": "u", "sasl_password_env": "KAFKATEST_PW"}, nil, ""},
		{"password environment unset", "kafka://h", sdk.Config{"sasl_user": "u", "sasl_password_env": "KAFKATEST_UNSET"}, nil, `"KAFKATEST_UNSET" is not set`},
		{"password twice", "kafka://h", sdk.Config{"sasl_user": "u", "sasl_password": "p", "sasl_password_env": "KAFKATEST_PW"}, nil, "exclude each other"},
		{"bad sasl mechanism", "kafka://u:p@h", sdk.Config{"sasl_mechanism": "GSSAPI"}, nil, `option "sasl_mechanism"`},
		{"cert without key", "kafka://h", sdk.Config{"tls_cert": "c.pem"}, nil, "go together"},
		{"bad CA file", "kafka://h", sdk.Config{"tls_ca": ca}, nil, "holds no PEM certificate"},
		{"missing CA file", "kafka://h", sdk.Config{"tls_ca": ca + ".missing"}, nil, "tls_ca"},
		{"tls off with tls options", "kafka://h", sdk.Config{"tls": "false", "tls_ca": ca}, nil, "TLS options are set"},
		{"short publish timeout", "kafka://h", sdk.Config{"publish_timeout": "10ms"}, nil, "publish_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validator(t).ValidateConfig(sdk.MustParseURL(tc.url), tc.opts, tc.links)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("invalid config accepted, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("error prints the password: %v", err)
			}
		})
	}
}

// Build refuses what ValidateConfig refuses, naming the instance and the link.
func TestBuildRefusesBadConfig(t *testing.T) {
	_, err := run.Start(context.Background(), kafka.NewBuilder(), run.Config{
		Name: "plant", URL: sdk.MustParseURL("kafka://127.0.0.1:1"),
		Routes: []sdk.Route{{ID: 1, Resource: "in", Record: "temp", Config: sdk.Config{"start_offset": "sometime"}}},
	})
	if sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), `"plant"`) || !strings.Contains(err.Error(), `record "temp"`) {
		t.Fatalf("build with a bad link_from option: %v, want invalid config naming the instance and the record", err)
	}
}

// Publish refuses a bad link configuration or a value the key_field does not fit,
// with invalid config errors naming the link and the field.
func TestPublishRefusesBadLinkConfig(t *testing.T) {
	inst := start(t, "kafka", "kafka://127.0.0.1:1", nil, nil, nil)
	ctx := context.Background()
	cases := []struct {
		cfg     sdk.Config
		payload string
		want    string
	}{
		{sdk.Config{"acks": "none", "idempotent": "true"}, "{}", "idempotent"},
		{sdk.Config{"key_field": "id"}, `not json`, "is not a JSON object"},
		{sdk.Config{"key_field": "id"}, `{"other":1}`, `no field "id"`},
		{sdk.Config{"key_field": "a.id"}, `{"a":3}`, "field a is not a JSON object"},
		{sdk.Config{"key_field": "id"}, `{"id":null}`, "null"},
		{sdk.Config{"key_field": "id"}, `{"id":[1]}`, "object or array"},
	}
	for _, tc := range cases {
		err := inst.Publish(ctx, "t", tc.cfg, []byte(tc.payload))
		if sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "kafka://t") {
			t.Errorf("publish %q with %v: %v, want invalid config naming the link and saying %q", tc.payload, tc.cfg, err, tc.want)
		}
	}
	if err := inst.Publish(ctx, "bad topic", nil, []byte("x")); sdk.KindOf(err) != sdk.KindInvalidDestination {
		t.Errorf("publish to an invalid topic name: %v, want invalid destination", err)
	}
}

// Describe documents every option the connector accepts, in the scopes it accepts it.
func TestDescribeCoversOptions(t *testing.T) {
	d := kafka.NewBuilder().(sdk.Describer).Describe()
	if d.Version == "" || len(d.Capabilities) == 0 {
		t.Fatalf("description lacks version or capabilities: %+v", d)
	}
	documented := map[string]bool{}
	for _, o := range d.Options {
		if o.Doc == "" {
			t.Errorf("option %q (%s) has no doc", o.Name, o.Scope)
		}
		documented[o.Scope+"/"+o.Name] = true
		if o.Name == "sasl_password" && !o.Secret {
			t.Error("sasl_password is not marked secret")
		}
	}
	v := validator(t)
	for key := range documented {
		scope, name, _ := strings.Cut(key, "/")
		cfg := sdk.Config{name: sampleValue(name)}
		var err error
		switch scope {
		case sdk.ScopeConnector:
			if name == "tls_cert" || name == "tls_key" || name == "tls_ca" {
				continue // needs real files; covered by TestTLS
			}
			if strings.HasPrefix(name, "sasl_") {
				cfg["sasl_user"] = "u"
				if name != "sasl_password_env" {
					cfg["sasl_password"] = "p"
				} else {
					t.Setenv("KAFKATEST_PW", "p")
					cfg[name] = "KAFKATEST_PW"
				}
			}
			err = v.ValidateConfig(sdk.MustParseURL("kafka://h"), cfg, nil)
		case sdk.ScopeLinkTo:
			err = v.ValidateConfig(sdk.MustParseURL("kafka://h"), nil, []sdk.LinkSpec{{Direction: sdk.Outbound, Resource: "t", Config: cfg}})
		case sdk.ScopeLinkFrom:
			err = v.ValidateConfig(sdk.MustParseURL("kafka://h"), nil, []sdk.LinkSpec{{Direction: sdk.Inbound, Resource: "t", Config: cfg}})
		default:
			t.Errorf("option %q has unknown scope %q", name, scope)
		}
		if err != nil {
			t.Errorf("documented option %s %q=%q is refused: %v", scope, name, cfg[name], err)
		}
	}
	// And the reverse: options not documented for a scope are refused there.
	if err := v.ValidateConfig(sdk.MustParseURL("kafka://h"), nil, []sdk.LinkSpec{{Direction: sdk.Outbound, Resource: "t", Config: sdk.Config{"client_id": "x"}}}); err == nil {
		t.Error("connector-only option client_id accepted on a link_to")
	}
}

func sampleValue(name string) string {
	switch name {
	case "tls", "tls_insecure_skip_verify", "auto_create_topics", "idempotent", "headers":
		return "true"
	case "acks":
		return "all"
	case "compression":
		return "lz4"
	case "start_offset":
		return "earliest"
	case "sasl_mechanism":
		return "PLAIN"
	case "linger", "dial_timeout", "publish_timeout", "commit_interval", "session_timeout":
		return "2s"
	case "batch_max_bytes", "max_poll_records":
		return "4096"
	}
	return "x"
}
