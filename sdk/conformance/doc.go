// Package conformance is the AimDB connector conformance kit: a battery of checks
// that drives a connector plugin binary through the real plugin boundary and an
// outside system (a peer) and says, check by check, whether the plugin behaves as the
// host needs: handshake, describe, config errors, lifecycle, publish and back-pressure,
// inbound routing, outages and reconnects, shutdown, panics and resource leaks. With
// Config.Builder instead of a binary it runs the checks that need no plugin process
// in-process, where it sees the payloads the connector hands to its router and the
// race detector sees the connector.
//
// Use it from a Go test:
//
//	func TestConformance(t *testing.T) {
//		peer := startMyPeer(t)
//		conformance.Run(t, conformance.Config{Plugin: "bin/plugins/udp", URL: peer.URL(), Peer: peer})
//	}
//
// or against a built binary with `aimdb conformance PLUGIN --url ...`. Checks that need a
// capability the plugin does not declare, or a peer feature the peer does not offer,
// are skipped with the reason, as csi-sanity does.
package conformance
