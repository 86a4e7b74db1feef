// Command udp is the AimDB UDP connector plugin, the example of docs/connector-guide.md.
// Build it with `go build` in this folder and drop the binary into aimdb's plugins folder.
package main

import (
	"github.com/aimdb-dev/aimdb-go/examples/udp/connector"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(connector.NewBuilder()) }
