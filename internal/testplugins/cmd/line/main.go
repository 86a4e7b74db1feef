// Command line is the line connector of the conformance kit's tests (package line):
// each instance makes the mistake its "fault" option names, or none.
package main

import (
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/line"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(line.NewBuilder()) }
