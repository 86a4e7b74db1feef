package sdk

import (
	"context"
	"testing"
)

// reportingConn is a connector that keeps metrics of its own.
type reportingConn struct {
	fakeConn
	metrics func() []Metric
}

func (c *reportingConn) Metrics() []Metric { return c.metrics() }

// TestInstanceMetrics: an instance hands out its connector's metrics, none for a
// connector without them, and none when Metrics panics or after Close.
func TestInstanceMetrics(t *testing.T) {
	start := func(c Connector) *Instance {
		inst, err := Start(context.Background(), fakeBuilder{build: func(context.Context, *BuildContext) (Connector, error) { return c, nil }}, InstanceConfig{Name: "m"})
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	plain := start(&fakeConn{})
	if ms := plain.Metrics(); ms != nil {
		t.Errorf("a connector without metrics reported %v", ms)
	}
	rc := &reportingConn{metrics: func() []Metric {
		return []Metric{{Name: "x_total", Help: "x", Kind: MetricCounter, Value: 3}}
	}}
	inst := start(rc)
	if ms := inst.Metrics(); len(ms) != 1 || ms[0].Name != "x_total" || ms[0].Value != 3 || ms[0].Kind != MetricCounter {
		t.Errorf("Metrics = %+v", ms)
	}
	if pb := metricsToPB(inst.Metrics()); len(pb) != 1 || pb[0].Name != "x_total" || pb[0].Kind != 1 || pb[0].Value != 3 {
		t.Errorf("metricsToPB = %v", pb)
	}
	rc.metrics = func() []Metric { panic("boom") }
	if ms := inst.Metrics(); ms != nil {
		t.Errorf("a panicking Metrics reported %v", ms)
	}
	rc.metrics = func() []Metric { return []Metric{{Name: "y", Kind: MetricGauge}} }
	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ms := inst.Metrics(); ms != nil {
		t.Errorf("a closed instance reported %v", ms)
	}
}
