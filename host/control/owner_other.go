//go:build !unix

package control

// checkOwner has nothing to check where sockets carry no Unix owner.
func checkOwner(string) error { return nil }
