package connect

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// TestMetricsJSON: a connector status whose metrics are NaN or infinite encodes, those
// values as null and the others as they are, and decodes back with NaN for null.
func TestMetricsJSON(t *testing.T) {
	st := ConnectorStatus{Name: "c", Kind: "k", State: "connected", Since: time.Unix(0, 0).UTC(), Metrics: Metrics{
		{Name: "nan", Kind: sdk.MetricGauge, Value: math.NaN()},
		{Name: "pos", Kind: sdk.MetricGauge, Value: math.Inf(1)},
		{Name: "neg", Kind: sdk.MetricGauge, Value: math.Inf(-1)},
		{Name: "n_total", Help: "N.", Kind: sdk.MetricCounter, Value: 2.5},
	}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"c","kind":"k","state":"connected","restarts":0,"since":"1970-01-01T00:00:00Z","metrics":[` +
		`{"Name":"nan","Help":"","Kind":2,"Value":null},{"Name":"pos","Help":"","Kind":2,"Value":null},` +
		`{"Name":"neg","Help":"","Kind":2,"Value":null},{"Name":"n_total","Help":"N.","Kind":1,"Value":2.5}]}`
	if string(b) != want {
		t.Fatalf("encoded\n%s\nwant\n%s", b, want)
	}
	var back ConnectorStatus
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Metrics) != 4 {
		t.Fatalf("decoded %d metrics, want 4", len(back.Metrics))
	}
	for i, m := range back.Metrics[:3] {
		if m.Name != st.Metrics[i].Name || m.Kind != sdk.MetricGauge || !math.IsNaN(m.Value) {
			t.Errorf("decoded %+v, want %s with NaN", m, st.Metrics[i].Name)
		}
	}
	if m := back.Metrics[3]; m != st.Metrics[3] {
		t.Errorf("decoded %+v, want %+v", m, st.Metrics[3])
	}
	if b, err := json.Marshal(ConnectorStatus{}); err != nil || string(b) != `{"name":"","kind":"","state":"","restarts":0,"since":"0001-01-01T00:00:00Z"}` {
		t.Errorf("no metrics: %s (%v), want the field left out", b, err)
	}
}
