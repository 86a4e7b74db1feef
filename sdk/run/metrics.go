package run

import "github.com/aimdb-dev/aimdb-go/sdk"

// Metrics returns the connector's own numbers when it is an sdk.MetricsReporter, else
// nil. A panic in the connector returns nil.
func (i *Instance) Metrics() (ms []sdk.Metric) {
	r, ok := i.conn.(sdk.MetricsReporter)
	if !ok || i.closed.Load() {
		return nil
	}
	defer func() {
		if recover() != nil {
			ms = nil
		}
	}()
	return r.Metrics()
}
