//go:build unix

package control

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwner refuses a socket that another user created: in a shared directory such
// as /tmp, someone else's socket at our default path would see our commands.
func checkOwner(path string) error {
	st, err := os.Lstat(path)
	if err != nil {
		return nil // Dial reports the path's problem
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); uid != 0 && int(sys.Uid) != uid {
		return fmt.Errorf("control socket %s belongs to user id %d, not to you (%d); refusing to connect", path, sys.Uid, uid)
	}
	return nil
}
