package knx_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxtest"
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
	bin := filepath.Join(t.TempDir(), "knx")
	build := exec.Command("go", "build", "-o", bin, "../../plugins/knx")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	conformance.Run(t, conformance.Config{
		Plugin:  bin,
		URL:     peer.URL(),
		Options: sdk.Config{"reconnect_min": "50ms", "reconnect_max": "300ms"},
		Peer:    peer,
		Skip: map[string]string{
			"publish/empty": "a KNX telegram carries at least one data byte",
		},
		Timeout: 8 * time.Second,
		Cycles:  5,
	})
}
