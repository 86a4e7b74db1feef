package grpcconn_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn"
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
	// The kit bounds every publish itself: kitTimeout plus 2 s per MiB moved
	// (conformance.Config.Timeout), 14 s for the largest payload (4 MiB). The
	// connector's own call deadline must not be the shorter one, or that publish
	// times out at the connector's bound under -race on a busy machine (it did at
	// 2 s); a call that hangs is still caught by the kit's deadline.
	const kitTimeout = 8 * time.Second
	callTimeout := kitTimeout + time.Duration(grpcconn.MaxPayload>>20+1)*2*time.Second
	opts := sdk.Config{"timeout": callTimeout.String(), "connect_timeout": "1s", "reconnect_max": "500ms"}
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
			Timeout: kitTimeout,
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
			Timeout:      kitTimeout,
		})
	})
}
