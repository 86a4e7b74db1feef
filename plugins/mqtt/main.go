// Command mqtt is the MQTT connector plugin: the connector of connectors/mqtt served
// over the plugin protocol.
package main

import (
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(mqtt.NewBuilder()) }
