package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/internal/syncbuf"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
)

// binDir holds the test plugins, built once for the package.
var binDir string

const hostHelperEnv = "AIMDB_TEST_HOST_HELPER"

func TestMain(m *testing.M) {
	if path := os.Getenv(hostHelperEnv); path != "" {
		runHostHelper(path)
		return
	}
	dir, err := os.MkdirTemp("", "aimdb-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := testbuild.Plugins(dir, "loopback", "stdout", "crash", "badcookie", "badversion", "bare"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runHostHelper is a minimal host: it starts one plugin, prints its pid and waits to
// be killed.
func runHostHelper(path string) {
	p, err := Start(context.Background(), path, Config{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(p.Pid())
	time.Sleep(time.Minute)
	os.Exit(0)
}

// pluginDir makes a directory holding copies of the named test plugins (or symlinks
// under other names: name=source).
func pluginDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		dst, src := n, n
		if i := bytes.IndexByte([]byte(n), '='); i >= 0 {
			dst, src = n[:i], n[i+1:]
		}
		if err := os.Symlink(filepath.Join(binDir, src), filepath.Join(dir, dst)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testConfig(t *testing.T) (Config, *syncbuf.Buffer) {
	lb := &syncbuf.Buffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: lb, Level: hclog.Debug})
	return Config{Logger: log, Restart: RestartPolicy{Initial: 20 * time.Millisecond}}, lb
}

func startLoopback(t *testing.T) *Process {
	t.Helper()
	cfg, _ := testConfig(t)
	p, err := Start(context.Background(), filepath.Join(binDir, "loopback"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}
