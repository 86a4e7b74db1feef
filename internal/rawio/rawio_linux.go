package rawio

import (
	"io"
	"syscall"
	"unsafe"
)

const supported = true

// read reads into p with read(2) called directly; on EAGAIN the raw connection waits
// in the network poller and calls it again.
func read(raw syscall.RawConn, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := raw.Read(func(fd uintptr) bool {
		for {
			r, e := sysRead(fd, p)
			if e == syscall.EINTR {
				continue
			}
			n, errno = r, e
			return e != syscall.EAGAIN
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// write writes all of p with write(2) called directly, waiting in the network poller
// whenever the socket's buffer is full.
func write(raw syscall.RawConn, p []byte) (int, error) {
	done := 0
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for done < len(p) {
			r, e := sysWrite(fd, p[done:])
			switch e {
			case 0:
				if r == 0 { // no progress and no error (as the net package says it)
					werr = io.ErrUnexpectedEOF
					return true
				}
				done += r
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				werr = e
				return true
			}
		}
		return true
	})
	if err != nil {
		return done, err
	}
	return done, werr
}

// sysRead is read(2) on fd into p (not empty): by RawSyscall, or by syscall.Read under
// the race detector (race.go).
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	if raceEnabled {
		n, err := syscall.Read(int(fd), p)
		return max(n, 0), errnoOf(err)
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// sysWrite is write(2) of p (not empty) to fd, as sysRead.
func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	if raceEnabled {
		n, err := syscall.Write(int(fd), p)
		return max(n, 0), errnoOf(err)
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// errnoOf is err as an Errno (0 for nil).
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}
