// Package connect is the connector layer of the host: it builds the declared
// connector instances, in-process (sdk.ConnectorBuilder linked in) or in plugin
// processes (host/plugin), and moves values between them and the records.
//
// Every link_to has a pump that reads its record (holding its place in the ring for
// at-least-once links, or through a disk outbox), publishes in batches, retries a
// failed value and everything after it in order with backoff, and dead-letters what
// fails for good. Every link_from delivers inbound messages into its record, holds
// them in order while the record is full (so the connector does not acknowledge them
// upstream), and dead-letters payloads the record refuses for good. Link and
// connector states are reported by Status and logged on every change.
package connect
