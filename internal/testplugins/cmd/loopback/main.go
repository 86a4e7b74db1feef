// Command loopback is the loopback test connector as a plugin.
package main

import (
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

func main() { sdk.Serve(loopback.NewBuilder(), loopback.NewBuilderFor("echo")) }
