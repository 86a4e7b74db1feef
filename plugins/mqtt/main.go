// Command mqtt is the MQTT connector plugin: the connector of connectors/mqtt served
// over the plugin protocol.
package main

import (
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

func main() { sdk.Serve(mqtt.NewBuilder()) }
