// Command line is the line connector of the conformance kit's tests (package line),
// with the fault that AIMDB_LINE_FAULT names, or none.
package main

import (
	"fmt"
	"os"

	"github.com/aimdb-dev/aimdb-go/internal/testplugins/line"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() {
	f, err := line.FaultFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serve.Connectors(line.NewBuilder(f))
}
