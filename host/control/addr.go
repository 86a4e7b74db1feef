package control

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultAddress is where an instance listens unless told otherwise:
// $XDG_RUNTIME_DIR/aimdb.sock when that directory exists, else aimdb-UID.sock in the
// system's temporary directory. It is per user, so users do not collide.
func DefaultAddress() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return "unix://" + filepath.Join(dir, "aimdb.sock")
		}
	}
	return "unix://" + filepath.Join(os.TempDir(), fmt.Sprintf("aimdb-%d.sock", os.Getuid()))
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
