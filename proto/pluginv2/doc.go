// Package pluginv2 is the generated gRPC contract between the AimDB host and its
// connector plugins, protocol version 2 (plugin.proto; `make proto` regenerates it).
// Connector authors never import it: package sdk wraps it in plain Go, and
// docs/plugin-protocol.md describes the wire.
package pluginv2
