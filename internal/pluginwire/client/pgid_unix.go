//go:build unix

package client

import "syscall"

// newProcessGroup puts a plugin in a process group of its own.
func newProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
