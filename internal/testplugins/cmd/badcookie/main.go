// Command badcookie is a go-plugin plugin for another kind of host: its magic cookie differs.
package main

import (
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
)

func main() {
	hs := pluginwire.Handshake
	hs.MagicCookieKey, hs.MagicCookieValue = "OTHER_HOST_PLUGIN", "not-aimdb"
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: pluginwire.PluginSets(&pluginwire.Connector{Register: func(*plugin.GRPCBroker, *grpc.Server) {}}),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
