package conformance_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aimdb-dev/aimdb-go/internal/testparallel"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
)

// pluginDir holds the test plugins, built once for the package's tests, and
// linePeer, the TCP example's peer program (examples/tcp/peer), which serves the
// line protocol the line test plugin speaks.
var pluginDir, linePeer string

// kitRuns is how many of the package's parallel tests run at once unless -parallel
// says otherwise: each runs the kit, which mostly waits on its peer, its plugin and
// its timers, so more of them than cores (the default) share the machine well.
const kitRuns = 8

func TestMain(m *testing.M) {
	testparallel.Default(kitRuns)
	dir, err := os.MkdirTemp("", "aimdb-conformance")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir, linePeer = dir, filepath.Join(dir, "linepeer")
	err = testbuild.Plugins(dir, "line")
	if err == nil {
		err = buildExamplePeer(linePeer)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildExamplePeer builds the TCP example's peer program (a module of its own) to out.
func buildExamplePeer(out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./peer")
	cmd.Dir = filepath.Join("..", "..", "examples", "tcp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building examples/tcp/peer: %v\n%s", err, b.String())
	}
	return nil
}
