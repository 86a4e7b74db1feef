package conformance_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/aimdb-dev/aimdb-go/internal/testplugins/linepeer"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// pluginDir holds the test plugins, built once for the package's tests.
var pluginDir string

// peerEnv, when set to an address, makes the test binary a peer program serving a
// line peer listening there on stdin/stdout, for the `aimdb conformance --peer` test.
const peerEnv = "AIMDB_CONFORMANCE_TEST_PEER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(peerEnv); addr != "" {
		p, err := linepeer.Listen(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := conformance.ServePeer(p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "aimdb-conformance")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir = dir
	if err := testbuild.Plugins(dir, "line"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
