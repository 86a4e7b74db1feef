//go:build !linux

package rawio

import "syscall"

const supported = false

func read(raw syscall.RawConn, p []byte) (int, error)  { panic("rawio: unsupported") }
func write(raw syscall.RawConn, p []byte) (int, error) { panic("rawio: unsupported") }
