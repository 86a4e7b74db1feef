package grpcconn_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// buildPlugin builds plugins/grpc with cgo disabled, as it ships.
func buildPlugin(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := testbuild.Packages(dir, "./plugins/grpc"); err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, "grpc")
}

// TestConformance runs the conformance kit against the real plugin binary and the
// test server, over reflection. gRPC methods are typed, so the kit runs twice: its
// link_to checks against the unary methods, its link_from checks against the
// server-streaming ones.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := buildPlugin(t)
	srv := grpctest.Start(t)
	raw := sdk.Config{"payload_field": "data"}
	opts := sdk.Config{"timeout": "2s", "connect_timeout": "1s", "reconnect_max": "500ms"}
	t.Run("outbound", func(t *testing.T) {
		conformance.Run(t, conformance.Config{
			Plugin:       bin,
			URL:          "grpc://" + srv.Addr,
			Options:      opts,
			LinkOptions:  raw,
			RouteOptions: raw,
			Peer:         srv.OutboundPeer(),
			Skip: map[string]string{
				"inbound/routes": "link_from needs server-streaming methods: checked by the inbound run",
				"outage/inbound": "link_from needs server-streaming methods: checked by the inbound run",
			},
			Timeout: 8 * time.Second,
			Cycles:  5,
		})
	})
	t.Run("inbound", func(t *testing.T) {
		conformance.Run(t, conformance.Config{
			Plugin:       bin,
			URL:          "grpc://" + srv.Addr,
			Options:      opts,
			LinkOptions:  raw,
			RouteOptions: raw,
			Peer:         srv.InboundPeer(),
			Only:         []string{"inbound/", "outage/inbound"},
			Timeout:      8 * time.Second,
		})
	})
}
