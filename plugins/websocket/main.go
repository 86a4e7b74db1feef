// Command websocket is the WebSocket connector plugin: the connector of
// connectors/websocket served over the plugin protocol.
package main

import (
	"github.com/aimdb-dev/aimdb-go/connectors/websocket"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(websocket.NewBuilder()) }
