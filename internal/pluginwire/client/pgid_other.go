//go:build !unix

package client

import "syscall"

// newProcessGroup leaves the plugin in the host's process group.
func newProcessGroup() *syscall.SysProcAttr { return nil }
