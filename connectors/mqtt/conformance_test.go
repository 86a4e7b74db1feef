package mqtt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// TestConformance runs the conformance kit against the real plugin binary
// (plugins/mqtt, built here with CGO disabled) and a real mosquitto, once for each
// protocol version.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	dir := t.TempDir()
	if err := testbuild.Packages(dir, "./plugins/mqtt"); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mqtt")
	for _, protocol := range []string{"3.1.1", "5"} {
		t.Run("protocol="+protocol, func(t *testing.T) {
			t.Parallel() // a broker of its own
			peer := mqtttest.NewPeer(t, mqtttest.Options{})
			conformance.Run(t, conformance.Config{
				Plugin:  bin,
				URL:     peer.URL(),
				Options: sdk.Config{"reconnect_min": "50ms", "reconnect_max": "300ms", "protocol": protocol},
				Peer:    peer,
				Timeout: 5 * time.Second,
				Cycles:  5,
			})
		})
	}
}
