// Command stdout is a broken plugin: it writes to stdout before its handshake.
package main

import (
	"fmt"

	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() {
	fmt.Println("hello from a careless plugin")
	serve.Connectors(loopback.NewBuilderFor("careless"))
}
