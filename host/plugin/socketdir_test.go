//go:build unix

package plugin

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Open puts the plugins' sockets in a private directory of its own, removes it on
// Close, and removes the directories of hosts that died without cleaning up.
func TestSocketDirIsPrivateAndCleanedUp(t *testing.T) {
	runtime := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", runtime)
	// A stale directory of a host that is gone (pid 1 << 30 does not run), holding a
	// socket; and a directory of that name holding a regular file, which stays.
	stale := filepath.Join(runtime, socketDirPrefix+"1073741824-x")
	keep := filepath.Join(runtime, socketDirPrefix+"1073741825-y")
	for _, d := range []string{stale, keep} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("unix", filepath.Join(stale, "plugin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if err := os.WriteFile(filepath.Join(keep, "notes"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	cfg, _ := testConfig(t)
	m, err := Open(context.Background(), pluginDir(t, "loopback"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale socket directory not removed: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a directory holding more than sockets was removed: %v", err)
	}
	dir := m.socketDir
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 || !strings.HasPrefix(filepath.Base(dir), socketDirPrefix) || filepath.Dir(dir) != runtime {
		t.Fatalf("socket dir %s: %v %v", dir, st, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 || entries[0].Type()&os.ModeSocket == 0 {
		t.Fatalf("the plugin's socket is not in %s: %v", dir, entries)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("socket dir left after Close: %v", err)
	}
}
