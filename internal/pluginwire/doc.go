// Package pluginwire holds what the plugin server (package sdk) and the plugin
// manager (package host/plugin) must agree on: the go-plugin handshake, the protocol
// version, message-size and batch limits, and the go-plugin glue for the generated
// gRPC services. It knows nothing about connectors.
package pluginwire
