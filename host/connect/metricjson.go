package connect

import (
	"encoding/json"
	"math"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Metrics are the numbers a connector instance keeps itself (sdk.MetricsReporter),
// as a ConnectorStatus carries them. JSON has no form for a value that is not a
// finite number, so one that is NaN, +Inf or -Inf encodes as null and the rest of
// the status still encodes; null decodes as NaN. /metrics exports the value as it is.
type Metrics []sdk.Metric

// metricJSON is an sdk.Metric in JSON: its field names, Value nil when not finite.
type metricJSON struct {
	Name  string
	Help  string
	Kind  sdk.MetricKind
	Value *float64
}

// MarshalJSON encodes ms with every value that is not a finite number as null.
func (ms Metrics) MarshalJSON() ([]byte, error) {
	if ms == nil {
		return []byte("null"), nil
	}
	out := make([]metricJSON, len(ms))
	for i, m := range ms {
		out[i] = metricJSON{Name: m.Name, Help: m.Help, Kind: m.Kind}
		if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
			out[i].Value = &ms[i].Value
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes what MarshalJSON encodes; a value that is null is NaN.
func (ms *Metrics) UnmarshalJSON(b []byte) error {
	var in []metricJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in == nil {
		*ms = nil
		return nil
	}
	out := make(Metrics, len(in))
	for i, m := range in {
		out[i] = sdk.Metric{Name: m.Name, Help: m.Help, Kind: m.Kind, Value: math.NaN()}
		if m.Value != nil {
			out[i].Value = *m.Value
		}
	}
	*ms = out
	return nil
}
