//go:build unix

package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// checkOwner refuses a file or directory that belongs to another user, root included:
// whoever owns a socket, or the directory it lives in, can read the commands sent to
// it and forge the answers. A path that does not exist passes (the caller reports
// that). what names the path in the error ("control socket", "directory of the
// control socket").
func checkOwner(what, path string) error {
	for _, stat := range []func(string) (fs.FileInfo, error){os.Lstat, os.Stat} {
		st, err := stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, path, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		if me := os.Getuid(); int(sys.Uid) != me {
			return fmt.Errorf("%s %s belongs to %s, not to you (%s): refusing it, because its owner could read your commands and forge the answers; remove it or pick a path you own",
				what, path, describeUser(sys.Uid), describeUser(uint32(me)))
		}
	}
	return nil
}

// describeUser names a user id: "user id 65534 (nobody)".
func describeUser(uid uint32) string {
	s := "user id " + strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		s += " (" + u.Username + ")"
	}
	return s
}
