// Package plugin runs connector plugins for the host: it finds plugin executables in
// a directory, starts each with go-plugin (handshake, AutoMTLS, explicit message-size
// limits), asks what it serves, and maps schemes to plugins. It supervises every
// plugin process: when one exits it is restarted with exponential backoff up to a
// crash-loop limit, its instances are built again and unacknowledged outbound
// batches are sent again. Data travels over two batched streams per process.
package plugin
