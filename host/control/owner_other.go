//go:build !unix

package control

// checkOwner has nothing to check where files carry no Unix owner.
func checkOwner(what, path string) error { return nil }
