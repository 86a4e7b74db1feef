package run

import (
	"context"
	"testing"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// reportingConn is a connector that keeps metrics of its own.
type reportingConn struct {
	fakeConn
	metrics func() []sdk.Metric
}

func (c *reportingConn) Metrics() []sdk.Metric { return c.metrics() }

// TestInstanceMetrics: an instance hands out its connector's metrics, none for a
// connector without them, and none when Metrics panics or after Close.
func TestInstanceMetrics(t *testing.T) {
	start := func(c sdk.Connector) *Instance {
		inst, err := Start(context.Background(), fakeBuilder{build: func(context.Context, *sdk.BuildContext) (sdk.Connector, error) { return c, nil }}, Config{Name: "m"})
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	plain := start(&fakeConn{})
	if ms := plain.Metrics(); ms != nil {
		t.Errorf("a connector without metrics reported %v", ms)
	}
	rc := &reportingConn{metrics: func() []sdk.Metric {
		return []sdk.Metric{{Name: "x_total", Help: "x", Kind: sdk.MetricCounter, Value: 3}}
	}}
	inst := start(rc)
	if ms := inst.Metrics(); len(ms) != 1 || ms[0].Name != "x_total" || ms[0].Value != 3 || ms[0].Kind != sdk.MetricCounter {
		t.Errorf("Metrics = %+v", ms)
	}
	rc.metrics = func() []sdk.Metric { panic("boom") }
	if ms := inst.Metrics(); ms != nil {
		t.Errorf("a panicking Metrics reported %v", ms)
	}
	rc.metrics = func() []sdk.Metric { return []sdk.Metric{{Name: "y", Kind: sdk.MetricGauge}} }
	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ms := inst.Metrics(); ms != nil {
		t.Errorf("a closed instance reported %v", ms)
	}
}
