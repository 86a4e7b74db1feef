// Package ops is AimDB's operations listener: one HTTP server in the host process
// that serves Prometheus metrics (/metrics), Kubernetes-style probes (/healthz,
// /readyz), the control protocol over WebSocket (/ws?v=3.0, the same implementation
// as the control socket), a live dashboard (/) embedded in the binary, and, on
// request, pprof (/debug/pprof/). docs/operations.md describes each.
//
// Each job has its file: bind.go (which addresses need a token), auth.go (bearer
// token), server.go (the listener and its routes), metrics.go (the metric families,
// built from the host's counters at scrape time into the memory of the previous
// scrape), labels.go (their label pairs, built once per record and link), probes.go,
// ws.go (the WebSocket transport), cork.go (a batch of WebSocket messages in one
// write), status.go (the aimdb.status record, made when read) and dashboard.go (the
// files in static/).
package ops
