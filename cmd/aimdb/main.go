// Command aimdb runs the AimDB data-sync hub and talks to a running instance.
//
//	aimdb run --config aimdb.hcl --plugins ./bin/plugins
//	aimdb check --config aimdb.hcl
//	aimdb record watch 'sensors.#'
//
// `aimdb help` lists every command; docs/cli.md is the full reference.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(newApp().main(context.Background(), os.Args[1:]))
}
