//go:build unix

package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// socketDirPrefix starts the name of every host's private plugin socket directory;
// the host's pid follows, so a later host can tell a stale one from a live one.
const socketDirPrefix = "aimdb-sockets-"

// makeSocketDir creates the private directory (0700) that holds the plugins' unix
// sockets, in $XDG_RUNTIME_DIR when set, else the temp directory, after removing the
// directories left by hosts of this user that are gone (a host killed with SIGKILL
// cannot clean up). Only this user can reach a socket in it, which is why the plugin
// channel needs no TLS (docs/plugin-protocol.md, "Threat model").
func makeSocketDir() (string, error) {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base == "" {
		base = os.TempDir()
	}
	removeStaleSocketDirs(base)
	dir, err := os.MkdirTemp(base, socketDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", fmt.Errorf("plugin socket directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("plugin socket directory: %w", err)
	}
	return dir, nil
}

// removeStaleSocketDirs removes socket directories of this user whose host is gone.
func removeStaleSocketDirs(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), socketDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processRuns(pid) {
			continue
		}
		path := filepath.Join(base, e.Name())
		if st, err := os.Lstat(path); err != nil || !ownedByMe(st) || !onlySockets(path) {
			continue
		}
		os.RemoveAll(path)
	}
}

// processRuns reports whether a process with pid exists.
func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ownedByMe reports whether a file belongs to this process's user.
func ownedByMe(st os.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Getuid()
}

// onlySockets reports whether dir holds nothing but unix sockets (or nothing).
func onlySockets(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Type()&os.ModeSocket == 0 {
			return false
		}
	}
	return true
}
