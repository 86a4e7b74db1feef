// Command loopback is the loopback test connector as a plugin.
package main

import (
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(loopback.NewBuilder(), loopback.NewBuilderFor("echo")) }
