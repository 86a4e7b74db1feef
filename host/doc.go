// Package host is the AimDB record engine: typed records keyed by name, each backed by a
// buffer (SPMC ring, single-latest or mailbox), the stages that produce and consume them
// (source, tap, transform, join), the links that carry them to and from connectors, and
// the dynamic JSON view the CLI and control socket use.
//
// A program declares records on a Builder, then builds a DB and runs it:
//
//	b := host.NewBuilder()
//	host.Configure[Temperature](b, "sensors.temp", func(r *host.Registrar[Temperature]) {
//		r.SPMCRing(256)
//		r.Source(readSensor)
//		r.LinkTo("mqtt://sensors/temp").WithCodec("json")
//	})
//	db, err := b.Build() // every configuration mistake at once
//	err = db.Run(ctx)    // until ctx is cancelled
//
// The connector layer plugs in as a Service and moves link payloads with Links,
// OpenLinkReader, DeliverLink and LatestLink.
package host
