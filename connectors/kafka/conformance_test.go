package kafka_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// buildPlugin builds plugins/kafka with cgo disabled, as it ships.
func buildPlugin(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := testbuild.Packages(dir, "./plugins/kafka"); err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, "kafka")
	return bin
}

// TestConformance runs the conformance kit against the real plugin binary and a kfake
// cluster.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	peer := kafkatest.NewPeer(t)
	conformance.Run(t, conformance.Config{
		Plugin:  buildPlugin(t),
		URL:     peer.URL(),
		Options: sdk.Config{"publish_timeout": "2s"},
		Peer:    peer,
		Timeout: 8 * time.Second,
		Cycles:  5,
	})
}
