package config

import (
	"strings"
	"testing"
)

func TestParseHTTP(t *testing.T) {
	cfg, diags := Parse([]byte("http {\n  listen    = \"0.0.0.0:9180\"\n  token_env = \"AIMDB_TOKEN\"\n}\n"), "a.hcl")
	if diags.HasErrors() {
		t.Fatal(Format(diags))
	}
	h := cfg.HTTP
	if h == nil || h.Listen != "0.0.0.0:9180" || h.TokenEnv != "AIMDB_TOKEN" || h.ListenRange.Start.Line != 2 || h.ListenRange.Start.Column != 15 {
		t.Fatalf("http = %+v", h)
	}
	if cfg, _ := Parse([]byte(`record "a" {}`), "a.hcl"); cfg.HTTP != nil {
		t.Error("no http block, but HTTP is set")
	}
}

func TestParseHTTPErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"http {\n  listen = \"9180\"\n}\n", `a.hcl:2:12: Invalid listen address: http: listen "9180": want host:port`},
		{"http {\n  listen = \"example.org:9180\"\n}\n", "a.hcl:2:12: Invalid listen address"},
		{"http {\n  listen = \"127.0.0.1:99999\"\n}\n", "the port must be a number"},
		{"http {\n  listen = \"127.0.0.1:9180\"\n  token_env = \"1X\"\n}\n", `a.hcl:3:15: Invalid token_env: http: token_env "1X"`},
		{"http {}\n", "a.hcl:1:6: Missing required argument"},
		{"http {\n  listen = \"127.0.0.1:1\"\n}\nhttp {\n  listen = \"127.0.0.1:2\"\n}\n", "a.hcl:4:1: Duplicate http block: an http block is already defined at a.hcl:1:1"},
		{"http {\n  listen = \"127.0.0.1:1\"\n  pprof = true\n}\n", "Unsupported argument"},
	} {
		_, diags := Parse([]byte(c.src), "a.hcl")
		if got := Format(diags); !strings.Contains(got, c.want) {
			t.Errorf("%q:\ngot  %s\nwant %s", c.src, got, c.want)
		}
	}
}
