// Command knx is the KNX connector plugin for AimDB.
package main

import (
	"github.com/aimdb-dev/aimdb-go/connectors/knx"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

func main() { sdk.Serve(knx.NewBuilder()) }
