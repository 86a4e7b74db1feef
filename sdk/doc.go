// Package sdk is what a connector author imports to connect AimDB to an outside system.
//
// A connector kind is a ConnectorBuilder: it names its scheme and builds a Connector
// for each configured instance from a BuildContext (the instance's URL and options, the
// inbound routes the host declared, a Router that hands inbound messages to the host,
// a logger, and Go for background work). The same builder runs as a plugin process,
// served by package sdk/serve with a one-line main:
//
//	func main() { serve.Connectors(mqtt.NewBuilder()) }
//
// or linked into the host in-process; package sdk/run runs it either way, and runs it
// in a connector's own tests. This package holds only what an author writes against:
// no gRPC, no go-plugin, no generated protobuf.
package sdk

// Version is the SDK's version, reported to the host by Describe.
const Version = "0.1.0"
