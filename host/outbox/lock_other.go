//go:build !unix

package outbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// lockDir creates the lock file with this process's pid. Where flock is missing it
// does not exclude another process: only Unix systems get that guarantee.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox: data directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func unlockDir(f *os.File) error { return f.Close() }
