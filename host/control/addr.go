package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RootSocket is root's default control socket. Its directory is created with mode 0700
// by the first instance that listens there.
const RootSocket = "/run/aimdb/aimdb.sock"

// DefaultAddress is where an instance listens, and a client connects, unless told
// otherwise: RootSocket for root, else $XDG_RUNTIME_DIR/aimdb.sock. Both are private
// to their user; a shared directory such as /tmp is never used, since another user
// could take the name first. It fails for a user without $XDG_RUNTIME_DIR.
func DefaultAddress() (string, error) {
	if os.Getuid() == 0 {
		return "unix://" + RootSocket, nil
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		return "", errors.New("no default control socket: $XDG_RUNTIME_DIR is not set (log in through a session that sets it, or give the socket as unix:///PATH in a directory you own)")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("no default control socket: $XDG_RUNTIME_DIR %s is not a directory (give the socket as unix:///PATH in a directory you own)", dir)
	}
	return "unix://" + filepath.Join(dir, "aimdb.sock"), nil
}

// SocketPath returns the file system path of a control address: "unix:///PATH" or a
// plain path.
func SocketPath(addr string) (string, error) {
	path := addr
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		if scheme != "unix" {
			return "", fmt.Errorf("control address %q: only unix:///PATH is supported", addr)
		}
		path = rest
	}
	if path == "" {
		return "", fmt.Errorf("control address %q: empty path", addr)
	}
	// A Unix socket path must fit in sun_path (108 bytes on Linux, 104 on BSDs).
	if len(path) > 103 {
		return "", fmt.Errorf("control address %q: socket path is longer than 103 bytes", addr)
	}
	return path, nil
}
