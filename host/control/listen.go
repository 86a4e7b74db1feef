package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Listen opens the control socket at addr with mode 0600. A missing directory (the last
// path element only, such as /run/aimdb) is created with mode 0700. The directory and
// any socket already there must belong to the calling user, root included. The socket
// is made under a temporary name and renamed into place, so no one can connect before
// its mode is set. A stale socket left by a crashed instance is replaced; a live one is
// an error. Closing the listener removes the socket file.
func Listen(addr string) (net.Listener, error) {
	path, err := SocketPath(addr)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("control socket %s: creating its directory: %w", path, err)
	}
	if err := checkOwner("directory of the control socket", dir); err != nil {
		return nil, err
	}
	if err := checkOwner("control socket", path); err != nil {
		return nil, err
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: the path exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another instance is listening there (use --control to pick another path)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: removing stale socket: %w", path, err)
		}
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".aimdb-%d-%d.sock", os.Getpid(), tmpSeq.Add(1)))
	_ = os.Remove(tmp)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &socketListener{UnixListener: l, path: path}, nil
}

// tmpSeq keeps temporary socket names of one process apart.
var tmpSeq atomic.Uint64

// socketListener removes its socket file on Close.
type socketListener struct {
	*net.UnixListener
	path string
	once sync.Once
}

// Close stops listening and removes the socket file.
func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	})
	return err
}
