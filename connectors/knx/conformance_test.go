package knx_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxtest"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// TestConformance runs the conformance kit against the real KNX plugin binary
// (plugins/knx, built with CGO disabled) tunnelling to knxd.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	knxtest.Require(t)
	peer := knxtest.Start(t)
	dir := t.TempDir()
	if err := testbuild.Packages(dir, "./plugins/knx"); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "knx")
	conformance.Run(t, conformance.Config{
		Plugin: bin,
		URL:    peer.URL(),
		// A tunnel learns that knxd restarted from its heartbeat (or a failed send):
		// a short one lets outage/inbound see the connector reconnect while idle. The
		// tunnel is lost after three unanswered heartbeats: knxd on loopback answers
		// within milliseconds, so a short wait for each (the default is the KNX
		// standard's 10 s) lets each outage of outage/reconnects end in about 2 s
		// instead of the kit's timeout.
		Options: sdk.Config{"reconnect_min": "50ms", "reconnect_max": "300ms", "heartbeat": "500ms", "heartbeat_timeout": "500ms"},
		Peer:    peer,
		Skip: map[string]string{
			"publish/empty": "a KNX telegram carries at least one data byte",
		},
		Timeout: 8 * time.Second,
		Cycles:  5,
	})
}
