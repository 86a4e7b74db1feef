// Command modbus is the Modbus connector plugin for AimDB (TCP and RTU).
package main

import (
	"github.com/aimdb-dev/aimdb-go/connectors/modbus"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(modbus.NewBuilder()) }
