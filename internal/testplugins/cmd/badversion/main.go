// Command badversion is an AimDB plugin from the future: it speaks only protocol version 99.
package main

import (
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
)

func main() {
	hs := pluginwire.Handshake
	hs.ProtocolVersion = 99
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		VersionedPlugins: map[int]plugin.PluginSet{99: {
			pluginwire.PluginName: &pluginwire.Connector{Register: func(*plugin.GRPCBroker, *grpc.Server) {}},
		}},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}
