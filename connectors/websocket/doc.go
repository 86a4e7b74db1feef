// Package websocket is the AimDB WebSocket connector (plugin "websocket"), a client of
// ws:// and wss:// servers built on github.com/coder/websocket.
//
// Without route_field every link resource is a path under the connector's URL with a
// connection of its own: a link_to "feed://prices" sends each value as one frame on
// ws://HOST/BASE/prices, and a link_from takes every frame its connection receives
// (one record per connection). With route_field = "topic" the instance keeps one
// connection to its URL: received frames are JSON objects routed to records by that
// field (patterns with "+" and "#"), and link_to values go out in the same envelope.
//
// Every connection pings the server (ping_interval) and is dropped when no pong comes
// within pong_timeout; it reconnects with backoff. A link_to value counts as sent once
// a ping written after it was answered (confirm = "ping"), so a value the server never
// read is sent again. docs/websocket.md documents every option.
package websocket
