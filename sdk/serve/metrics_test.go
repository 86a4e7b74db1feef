package serve

import (
	"testing"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// TestMetricsToPB: a connector's metrics keep name, help, kind and value on the wire;
// none gives none.
func TestMetricsToPB(t *testing.T) {
	if got := metricsToPB(nil); got != nil {
		t.Errorf("no metrics gave %v", got)
	}
	got := metricsToPB([]sdk.Metric{{Name: "x_total", Help: "x", Kind: sdk.MetricCounter, Value: 3}, {Name: "y", Kind: sdk.MetricGauge, Value: -1}})
	if len(got) != 2 || got[0].Name != "x_total" || got[0].Help != "x" || got[0].Kind != 1 || got[0].Value != 3 || got[1].Kind != 2 || got[1].Value != -1 {
		t.Errorf("metricsToPB = %v", got)
	}
}
