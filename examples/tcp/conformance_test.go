package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aimdb-dev/aimdb-go/examples/tcp/connector"
	"github.com/aimdb-dev/aimdb-go/examples/tcp/tcppeer"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// TestConformance builds the plugin and runs the conformance kit against it, with a
// line server on loopback that goes down, comes back and stops reading when the
// checks say so.
func TestConformance(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tcp")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	peer := startPeer(t)
	conformance.Run(t, conformance.Config{Plugin: bin, URL: "tcp://" + peer.Addr, Peer: peer})
}

// TestConformanceInProcess runs the checks again with the connector in the test's
// own process, where the kit sees the very payloads the connector hands to its
// router (inbound/payload-kept). Run it with -race too: the race detector then
// watches the connector's goroutines.
func TestConformanceInProcess(t *testing.T) {
	peer := startPeer(t)
	conformance.Run(t, conformance.Config{Builder: connector.NewBuilder(), URL: "tcp://" + peer.Addr, Peer: peer})
}

func startPeer(t *testing.T) *tcppeer.Peer {
	peer, err := tcppeer.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(peer.Close)
	return peer
}
