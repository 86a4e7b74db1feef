package sdk

// MetricsReporter is implemented by connectors that keep counters or gauges of their
// own (connections, broker acknowledgements, ...). The host reads them at every health
// check and exports each as aimdb_connector_<Name>{instance="..."} on /metrics.
type MetricsReporter interface {
	// Metrics returns the connector's numbers now. Names must be stable and few: they
	// become metric names, so nothing derived from payloads or topics (the host
	// exports at most 200 names, every instance together).
	Metrics() []Metric
}

// Metric is one named number of a connector instance.
type Metric struct {
	// Name is the metric's name after "aimdb_connector_": lower-case letters, digits
	// and '_', not starting with a digit; counters end in "_total" by convention.
	Name string
	// Help says what it measures, in one line.
	Help string
	// Kind is MetricCounter (only rises, from 0 when the instance was built) or
	// MetricGauge (any value now).
	Kind MetricKind
	// Value is the number.
	Value float64
}

// MetricKind says how a Metric behaves.
type MetricKind uint8

// Metric kinds.
const (
	MetricCounter MetricKind = iota + 1 // rises from 0, never falls
	MetricGauge                         // a value now
)
