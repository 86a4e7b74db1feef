package conformance_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
)

// pluginDir holds the test plugins, built once for the package's tests.
var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aimdb-conformance")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir = dir
	if err := testbuild.Plugins(dir, "broken"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
