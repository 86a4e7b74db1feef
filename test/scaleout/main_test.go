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
		// The plugins and aimdb build side by side.
		errs := make(chan error, 1)
		go func() { errs <- testbuild.Packages(pluginDir, "./plugins/mqtt", "./plugins/kafka") }()
		err := testbuild.Packages(dir, "./cmd/aimdb")
		if perr := <-errs; err == nil {
			err = perr
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}
