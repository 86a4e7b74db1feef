// Package hook lets the SDK's runner (sdk/run) set up what package sdk keeps out of an
// author's reach, so the author API shows only what authors use. Package sdk fills
// the variables in its init; their types are named in comments because this package
// cannot import sdk (sdk imports it).
package hook

// Prepare is a func(b *sdk.BuildContext, g *life.Group, deliver func(route uint32,
// topic string, payload []byte, meta *sdk.Metadata, ack func(error))): it ties b to the
// instance's goroutine group and gives b a Router over b.Routes that hands matching
// messages to deliver, which calls ack once, with nil when the host took the value.
var Prepare any

// NewRouter is a func(routes []sdk.Route, deliver func(...)) *sdk.Router, with deliver
// as for Prepare.
var NewRouter any

// InstanceSecrets is a func(b sdk.ConnectorBuilder, u sdk.URL, opts sdk.Config, links
// []sdk.LinkSpec) []string: what an instance built with these must never print.
var InstanceSecrets any
