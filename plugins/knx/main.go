// Command knx is the KNX connector plugin for AimDB.
package main

import (
	"github.com/aimdb-dev/aimdb-go/connectors/knx"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(knx.NewBuilder()) }
