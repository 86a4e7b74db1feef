package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxtest"
	"github.com/aimdb-dev/aimdb-go/internal/testparallel"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
)

// binEnv passes the directory of the built binaries to the test process that runs
// inside the network namespace.
const binEnv = "AIMDB_FAULTS_BIN"

// aimdbBin is the aimdb command and pluginDir its plugins (mqtt, http, kafka, knx, grpc),
// built once per test binary.
var aimdbBin, pluginDir string

// lightRuns is how many of the light tests (t.Parallel: a low rate, mostly waiting on
// outages and peers) run at once.
const lightRuns = 8

func TestMain(m *testing.M) {
	testparallel.Default(lightRuns)
	if dir := os.Getenv(binEnv); dir != "" { // re-run inside the namespace
		setBinaries(dir)
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "aimdb-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		setBinaries(dir)
		os.Setenv(binEnv, dir)
		if code, ran := knxtest.InNetns(); ran {
			return code
		}
		return m.Run()
	}()
	os.Exit(code)
}

func setBinaries(dir string) {
	aimdbBin, pluginDir = filepath.Join(dir, "aimdb"), filepath.Join(dir, "plugins")
}

// build compiles aimdb and the bundled plugins side by side.
func build(dir string) error {
	errs := make(chan error, 1)
	go func() {
		errs <- testbuild.Packages(filepath.Join(dir, "plugins"), "./plugins/mqtt", "./plugins/http", "./plugins/kafka", "./plugins/knx", "./plugins/grpc")
	}()
	err := testbuild.Packages(dir, "./cmd/aimdb")
	if perr := <-errs; err == nil {
		err = perr
	}
	return err
}
