package scaleout

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
)

// aimdbBin is the aimdb command and pluginDir its plugins (mqtt, kafka), built once
// per test binary.
var aimdbBin, pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aimdb-scaleout-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		aimdbBin, pluginDir = filepath.Join(dir, "aimdb"), filepath.Join(dir, "plugins")
		if err := testbuild.Packages(pluginDir, "./plugins/mqtt", "./plugins/kafka"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := testbuild.Packages(dir, "./cmd/aimdb"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}
