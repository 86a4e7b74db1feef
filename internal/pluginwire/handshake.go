package pluginwire

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
)

// ProtocolVersion is the wire protocol this build speaks (proto/pluginv2). A plugin
// and a host that share no version refuse each other at the handshake.
const ProtocolVersion = 2

// PluginName is the name of the one plugin in every versioned plugin set.
const PluginName = "connector"

// LogLevelEnv names the environment variable the host sets to the log level it wants
// from a plugin ("trace", "debug", "info", "warn", "error").
const LogLevelEnv = "AIMDB_PLUGIN_LOG_LEVEL"

// Handshake is the go-plugin handshake. The magic cookie is not security: it only
// stops a plugin binary from being run by hand or by another kind of host.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "AIMDB_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "7f0c2a0e9b1d4c55-aimdb-connector",
}

// Connector is the go-plugin Plugin of the connector service. The plugin sets Register;
// the host leaves it nil and gets a *Client from Dispense.
type Connector struct {
	plugin.NetRPCUnsupportedPlugin
	// Register adds the plugin's services to its gRPC server.
	Register func(broker *plugin.GRPCBroker, s *grpc.Server)
}

// Client is the host's handle on a plugin's connector service.
type Client struct {
	pb.ConnectorClient
	// Broker opens extra connections, such as the one that serves HostControl.
	Broker *plugin.GRPCBroker
}

// GRPCServer registers the plugin's services.
func (c *Connector) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	c.Register(broker, s)
	return nil
}

// GRPCClient returns a *Client over conn.
func (c *Connector) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{ConnectorClient: pb.NewConnectorClient(conn), Broker: broker}, nil
}

// PluginSets returns the versioned plugin sets holding c.
func PluginSets(c *Connector) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{ProtocolVersion: {PluginName: c}}
}
