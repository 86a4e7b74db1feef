package grpcconn_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// finding is where a mistake was reported: link id (0: the connector) and option.
type finding struct {
	link   uint32
	option string
	text   string
}

// validate runs ValidateConfig and returns each mistake with where it is.
func validate(t *testing.T, url string, options sdk.Config, ls ...sdk.LinkSpec) []finding {
	t.Helper()
	err := grpcconn.NewBuilder().(sdk.ConfigValidator).ValidateConfig(sdk.MustParseURL(url), options, ls)
	var out []finding
	for _, leaf := range sdk.Split(err) {
		var oe *sdk.OptionError
		if !errors.As(leaf, &oe) {
			t.Errorf("a mistake not tied to an option: %v", leaf)
			continue
		}
		if sdk.KindOf(leaf) != sdk.KindInvalidConfig && sdk.KindOf(leaf) != sdk.KindInvalidDestination {
			t.Errorf("kind %s for %v", sdk.KindOf(leaf), leaf)
		}
		f := finding{option: oe.Option, text: leaf.Error()}
		if oe.Link != nil {
			f.link = oe.Link.ID
		}
		out = append(out, f)
	}
	return out
}

func inbound(id uint32, resource string, kv ...string) sdk.LinkSpec {
	return sdk.LinkSpec{ID: id, Direction: sdk.Inbound, Resource: resource, Config: config(kv...), Record: "r"}
}

// TestValidateConfigPlacesMistakes: every mistake is reported at its own option and
// link, with a message that names what is wrong.
func TestValidateConfigPlacesMistakes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.proto")
	os.WriteFile(bad, []byte("syntax = \"proto3\";\nmessage M { strin x = 1; }\n"), 0o644)
	t.Setenv("EMPTY_TOKEN", "")
	cases := []struct {
		name    string
		url     string
		options sdk.Config
		links   []sdk.LinkSpec
		want    finding // text holds a part of the message
	}{
		{"scheme", "http://h:1", nil, nil, finding{0, "url", "is not grpc:// or grpcs://"}},
		{"no port", "grpc://h", nil, nil, finding{}}, // port 80 by default: fine
		{"path", "grpc://h:1/x.S/M", nil, nil, finding{0, "url", "names servers only"}},
		{"user", "grpc://u:p@h:1", nil, nil, finding{0, "url", "use token_env or metadata"}},
		{"unknown", "grpc://h:1", sdk.Config{"timout": "1s"}, nil, finding{0, "timout", `did you mean "timeout"`}},
		{"balancing", "grpc://h:1", sdk.Config{"load_balancing": "random"}, nil, finding{0, "load_balancing", "round_robin, pick_first"}},
		{"timeout", "grpc://h:1", sdk.Config{"timeout": "0s"}, nil, finding{0, "timeout", "above zero"}},
		{"metadata", "grpc://h:1", sdk.Config{"metadata": "x-a b"}, nil, finding{0, "metadata", "is not \"name: value\""}},
		{"metadata auth", "grpc://h:1", sdk.Config{"metadata": "authorization: Bearer x"}, nil, finding{0, "metadata", "use token_env"}},
		{"metadata grpc-", "grpc://h:1", sdk.Config{"metadata": "grpc-status: 1"}, nil, finding{0, "metadata", "gRPC reserves it"}},
		{"metadata bin", "grpc://h:1", sdk.Config{"metadata": "x-b-bin: AAA"}, nil, finding{0, "metadata", "binary (-bin) metadata is not supported"}},
		{"metadata user-agent", "grpc://h:1", sdk.Config{"metadata": "User-Agent: me"}, nil, finding{0, "metadata", "gRPC sets it"}},
		{"token env", "grpc://h:1", sdk.Config{"token_env": "EMPTY_TOKEN"}, nil, finding{0, "token_env", "EMPTY_TOKEN is not set or empty"}},
		{"max message", "grpc://h:1", sdk.Config{"max_message_size": "0"}, nil, finding{0, "max_message_size", "out of range"}},
		{"reconnect", "grpc://h:1", sdk.Config{"reconnect_min": "2s", "reconnect_max": "1s"}, nil, finding{0, "reconnect_max", "shorter than reconnect_min"}},
		{"tls on grpc", "grpc://h:1", sdk.Config{"tls_ca_file": "ca.pem"}, nil, finding{0, "tls_ca_file", "needs a grpcs:// url"}},
		{"tls file", "grpcs://h:1", sdk.Config{"tls_ca_file": filepath.Join(dir, "none.pem")}, nil, finding{0, "tls_ca_file", "none.pem"}},
		{"cert alone", "grpcs://h:1", sdk.Config{"tls_cert_file": "c.pem"}, nil, finding{0, "tls_cert_file", "go together"}},
		{"proto not proto", "grpc://h:1", sdk.Config{"proto_files": "a.txt"}, nil, finding{0, "proto_files", "is not a .proto file"}},
		{"proto syntax", "grpc://h:1", sdk.Config{"proto_files": "bad.proto", "import_paths": dir}, nil, finding{0, "proto_files", "bad.proto:2:"}},
		{"proto missing", "grpc://h:1", sdk.Config{"proto_files": "none.proto", "import_paths": dir}, nil, finding{0, "proto_files", "none.proto"}},
		{"import path", "grpc://h:1", sdk.Config{"proto_files": "a.proto", "import_paths": filepath.Join(dir, "nowhere")}, nil, finding{0, "import_paths", "is not a directory"}},
		{"resource", "grpc://h:1", nil, []sdk.LinkSpec{to(7, "Put")}, finding{7, "", `is not "package.Service/Method"`}},
		{"link option", "grpc://h:1", nil, []sdk.LinkSpec{to(7, method("Put"), "request", "{}")}, finding{7, "request", "unknown option"}},
		{"request json", "grpc://h:1", nil, []sdk.LinkSpec{inbound(7, method("Watch"), "request", "{sensor}")}, finding{7, "request", "not valid JSON"}},
		{"emit defaults", "grpc://h:1", nil, []sdk.LinkSpec{inbound(7, method("Watch"), "emit_defaults", "yes")}, finding{7, "emit_defaults", "want true or false"}},
		{"two streams", "grpc://h:1", nil, []sdk.LinkSpec{inbound(7, method("Watch")), inbound(8, method("Watch"), "request", `{"sensor":"a"}`)}, finding{8, "", "one stream per method"}},
	}
	protos := sdk.Config{"proto_files": "telemetry.proto", "import_paths": protoDir(t)}
	withProtos := []struct {
		name  string
		links []sdk.LinkSpec
		want  finding
	}{
		{"no method", []sdk.LinkSpec{to(3, method("Nope"))}, finding{3, "", "has no method Nope"}},
		{"no service", []sdk.LinkSpec{to(3, "x.Y/Put")}, finding{3, "", "service x.Y is not in proto_files"}},
		{"streaming to", []sdk.LinkSpec{to(3, method("Watch"))}, finding{3, "", "server streaming; link_to calls unary or client-streaming methods"}},
		{"bidi to", []sdk.LinkSpec{to(3, method("Chat"))}, finding{3, "", "bidirectional streaming; link_to calls unary or client-streaming methods"}},
		{"bidi from", []sdk.LinkSpec{inbound(3, method("Chat"))}, finding{3, "", "bidirectional streaming; link_from opens server-streaming methods"}},
		{"unary from", []sdk.LinkSpec{inbound(3, method("Put"))}, finding{3, "", "unary; link_from opens server-streaming methods"}},
		{"client streaming", []sdk.LinkSpec{to(3, method("Upload"))}, finding{}},
		{"payload field", []sdk.LinkSpec{to(3, method("Put"), "payload_field", "value")}, finding{3, "payload_field", "not a single bytes or string field"}},
		{"no field", []sdk.LinkSpec{inbound(3, method("Watch"), "payload_field", "nope")}, finding{3, "payload_field", "has no field \"nope\""}},
		{"request type", []sdk.LinkSpec{inbound(3, method("Watch"), "request", `{"sensor":5}`)}, finding{3, "request", "not a aimdb.test.v1.WatchRequest in JSON"}},
	}
	for _, c := range withProtos {
		cases = append(cases, struct {
			name    string
			url     string
			options sdk.Config
			links   []sdk.LinkSpec
			want    finding
		}{c.name, "grpc://h:1", protos, c.links, c.want})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := validate(t, c.url, c.options, c.links...)
			t.Log(got)
			if c.want == (finding{}) {
				if len(got) > 0 {
					t.Errorf("want no mistake, got %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].link != c.want.link || got[0].option != c.want.option || !strings.Contains(got[0].text, c.want.text) {
				t.Errorf("got %+v\nwant one at link %d, option %q, saying %q", got, c.want.link, c.want.option, c.want.text)
			}
		})
	}
}

// TestValidateConfigReportsAll: mistakes in several links and options come back together.
func TestValidateConfigReportsAll(t *testing.T) {
	got := validate(t, "grpc://h:1", sdk.Config{"timeout": "x", "proto_files": "telemetry.proto", "import_paths": protoDir(t)},
		to(1, method("Nope")), inbound(2, method("Put")), to(3, method("Put")))
	if len(got) != 3 || got[0].option != "timeout" || got[1].link != 1 || got[2].link != 2 {
		t.Errorf("got %+v, want the timeout, then links 1 and 2", got)
	}
}
