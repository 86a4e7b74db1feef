// Command crash is a broken plugin: it exits with an error before serving.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "crash: cannot read my settings, giving up")
	os.Exit(3)
}
