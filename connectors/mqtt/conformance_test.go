package mqtt_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// TestConformance runs the conformance kit against the real plugin binary
// (plugins/mqtt, built here with CGO disabled) and a real mosquitto.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	peer := mqtttest.NewPeer(t, mqtttest.Options{})
	bin := filepath.Join(t.TempDir(), "mqtt")
	build := exec.Command("go", "build", "-o", bin, "../../plugins/mqtt")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	conformance.Run(t, conformance.Config{
		Plugin:  bin,
		URL:     peer.URL(),
		Options: sdk.Config{"reconnect_min": "50ms", "reconnect_max": "300ms"},
		Peer:    peer,
		Timeout: 5 * time.Second,
		Cycles:  5,
	})
}
