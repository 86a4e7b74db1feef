package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aimdb-dev/aimdb-go/examples/udp/udppeer"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// TestConformance builds the plugin and runs the conformance kit against it, with a
// UDP peer on loopback.
func TestConformance(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "udp")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	peer, err := udppeer.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	rep := conformance.Run(t, conformance.Config{
		Plugin:  bin,
		URL:     "udp://" + peer.Addr,
		Options: sdk.Config{"listen": peer.Target},
		Peer:    peer,
	})
	if failed := rep.Failed(); len(failed) > 0 {
		t.Errorf("failed checks: %v", failed)
	}
}
