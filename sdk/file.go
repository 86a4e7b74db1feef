package sdk

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxFileBytes is how much of a file an option names ReadFile reads when the caller
// gives no limit: 16 MiB holds any certificate bundle or ETS group address export by
// a wide margin, and bounds the memory a wrong path (a log, a disk image) can cost.
const MaxFileBytes = 16 << 20

// ReadFile reads the file that option names (path), for connectors that load
// certificates, keys or tables at build or validation time. It refuses anything but a
// regular file (a device such as /dev/urandom, a FIFO, a directory) before opening
// it, and a file larger than limit (MaxFileBytes when limit <= 0) without reading more
// than limit+1 bytes. Errors are invalid config about option and name the path.
func ReadFile(option, path string, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = MaxFileBytes
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, OptionErrorf(KindInvalidConfig, option, "%v", err)
	}
	if !st.Mode().IsRegular() {
		return nil, OptionErrorf(KindInvalidConfig, option, "%s is %s, not a regular file", path, fileKind(st.Mode()))
	}
	if st.Size() > limit {
		return nil, OptionErrorf(KindInvalidConfig, option, "%s is %d bytes, more than the limit of %d", path, st.Size(), limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, OptionErrorf(KindInvalidConfig, option, "%v", err)
	}
	defer f.Close()
	// The file may have grown since Stat: read one byte past the limit to notice.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, OptionErrorf(KindInvalidConfig, option, "read %s: %v", path, err)
	}
	if int64(len(data)) > limit {
		return nil, OptionErrorf(KindInvalidConfig, option, "%s holds more than the limit of %d bytes", path, limit)
	}
	return data, nil
}

// fileKind names what a file that is not regular is, for messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return fmt.Sprintf("a special file (%v)", m.Type())
}
