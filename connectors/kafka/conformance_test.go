package kafka_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// buildPlugin builds plugins/kafka with cgo disabled, as it ships.
func buildPlugin(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "kafka")
	build := exec.Command("go", "build", "-o", bin, "../../plugins/kafka")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build plugin: %v\n%s", err, out)
	}
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
