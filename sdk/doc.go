// Package sdk is what a connector author imports to connect AimDB to an outside system.
//
// A connector kind is a ConnectorBuilder: it names its scheme and builds a Connector
// for each configured instance from a BuildContext (the instance's URL and options, the
// inbound routes the host declared, a Router that hands inbound messages to the host,
// a logger, and Go for background work). The same builder runs as a plugin process,
// with a one-line main:
//
//	func main() { sdk.Serve(mqtt.NewBuilder()) }
//
// or linked into the host in-process. Generated protobuf code never appears here.
package sdk
