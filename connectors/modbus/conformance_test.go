package modbus_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/modbus/modbustest"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// TestConformance runs the conformance kit against the real Modbus plugin binary
// (plugins/modbus, built with CGO disabled) and modbus-serial's TCP server, through
// raw links of 123 holding registers.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	modbustest.Require(t)
	peer := modbustest.StartTCP(t)
	dir := t.TempDir()
	if err := testbuild.Packages(dir, "./plugins/modbus"); err != nil {
		t.Fatal(err)
	}
	conformance.Run(t, conformance.Config{
		Plugin:       filepath.Join(dir, "modbus"),
		URL:          peer.URL(),
		Options:      sdk.Config{"reconnect_min": "50ms", "reconnect_max": "300ms"},
		LinkOptions:  sdk.Config{"type": "raw"},
		RouteOptions: sdk.Config{"type": "raw", "poll": "50ms"},
		Peer:         peer,
		Timeout:      8 * time.Second,
		Cycles:       5,
	})
}
