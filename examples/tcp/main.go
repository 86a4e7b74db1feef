// Command tcp is the AimDB TCP connector plugin, the example of docs/connector-guide.md.
// Build it with `go build` in this folder and drop the binary into aimdb's plugins folder.
package main

import (
	"github.com/aimdb-dev/aimdb-go/examples/tcp/connector"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(connector.NewBuilder()) }
