//go:build !unix

package plugin

// makeSocketDir leaves the socket's place to go-plugin where unix sockets are not used.
func makeSocketDir() (string, error) { return "", nil }
