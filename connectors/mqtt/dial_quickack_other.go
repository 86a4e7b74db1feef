//go:build !linux

package mqtt

import "net"

// quickAck returns c: TCP_QUICKACK is Linux's (see dial_quickack_linux.go).
func quickAck(c net.Conn, _ func() bool) net.Conn { return c }
