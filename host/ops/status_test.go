package ops

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// statusProduced is how many values the status record took.
func statusProduced(t *testing.T, h *hub) uint64 {
	t.Helper()
	info, ok := h.db.Record(StatusKey)
	if !ok {
		t.Fatalf("no record %s", StatusKey)
	}
	return info.Stats.Produced
}

// recordProduced returns key's produced counter in a status value.
func recordProduced(t *testing.T, raw json.RawMessage, key string) uint64 {
	t.Helper()
	var st Status
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("status value: %v\n%s", err, raw)
	}
	for _, r := range st.Records {
		if r.Key == key {
			return r.Produced
		}
	}
	t.Fatalf("status value without %s:\n%s", key, raw)
	return 0
}

// TestStatusRenderedWhenRead: the status record is rendered at every read and every
// second while someone subscribes to it, and not at all while nobody does.
func TestStatusRenderedWhenRead(t *testing.T) {
	h := startHub(t, `
record "t.x" {
  buffer   = "single_latest"
  writable = true
}
`, Options{})
	idle := 2*statusEvery + statusEvery/2
	time.Sleep(idle)
	if n := statusProduced(t, h); n != 0 {
		t.Fatalf("status rendered %d times with nobody reading it", n)
	}

	// A read renders it now.
	for want := uint64(1); want <= 2; want++ {
		if err := h.db.SetJSON("t.x", json.RawMessage(`1`)); err != nil {
			t.Fatal(err)
		}
		raw, err := h.db.GetJSON(StatusKey)
		if err != nil {
			t.Fatal(err)
		}
		if got := recordProduced(t, raw, "t.x"); got != want {
			t.Fatalf("read %d: t.x produced %d in the status, want %d", want, got, want)
		}
	}
	if n := statusProduced(t, h); n != 2 {
		t.Fatalf("status rendered %d times for 2 reads", n)
	}

	// A subscriber gets a fresh value at once, then a new one every second it changed.
	w, err := h.db.WatchJSON(StatusKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := w.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := recordProduced(t, first, "t.x"); got != 2 {
		t.Fatalf("first value to a subscriber: t.x produced %d, want 2", got)
	}
	if err := h.db.SetJSON("t.x", json.RawMessage(`3`)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	next, err := w.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := recordProduced(t, next, "t.x"); got != 3 {
		t.Fatalf("next value to the subscriber: t.x produced %d, want 3", got)
	}
	t.Logf("a change reached the subscriber %v after it was made", time.Since(start).Round(time.Millisecond))

	// With the subscriber gone it stops.
	w.Close()
	n := statusProduced(t, h)
	if err := h.db.SetJSON("t.x", json.RawMessage(`4`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(idle)
	if m := statusProduced(t, h); m != n {
		t.Fatalf("status rendered %d times after the last subscriber left", m-n)
	}
}

// readOnStop is a service that reads the status record when it stops: a service
// registered after WithStatus stops first, after Run closed every record, as a
// `record get` through the control socket can during the drain.
type readOnStop struct {
	db    *host.DB
	reads []json.RawMessage
	errs  []error
}

func (*readOnStop) Validate(*host.DB) []error { return nil }

func (p *readOnStop) Start(_ context.Context, db *host.DB) error {
	p.db = db
	return nil
}

func (p *readOnStop) Stop(context.Context) error {
	for range 2 {
		raw, err := p.db.GetJSON(StatusKey)
		p.reads, p.errs = append(p.reads, raw), append(p.errs, err)
	}
	return nil
}

// TestStatusNotWrittenWhileStopping: a read of the status record once the hub is
// stopping (the record closed) returns the last status written, and the status it
// rendered, refused by the closed record, is counted and logged, not dropped silently
// (once at first, then at most every unwrittenEvery).
func TestStatusNotWrittenWhileStopping(t *testing.T) {
	log, buf := testLogger(t)
	probe := &readOnStop{}
	b := host.NewBuilder(host.WithLogger(log))
	host.Configure(b, "t.x", func(r *host.Registrar[json.RawMessage]) { r.SingleLatest().Writable() })
	b.Apply(WithStatus(), host.WithService("probe", probe))
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Run(ctx) }()
	<-db.Started()
	if err := db.SetJSON("t.x", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	raw, err := db.GetJSON(StatusKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := recordProduced(t, raw, "t.x"); got != 1 {
		t.Fatalf("t.x produced %d in the status, want 1", got)
	}
	if err := db.SetJSON("t.x", json.RawMessage(`2`)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	for i, raw := range probe.reads {
		if probe.errs[i] != nil {
			t.Fatalf("read %d while stopping: %v", i, probe.errs[i])
		}
		if got := recordProduced(t, raw, "t.x"); got != 1 {
			t.Errorf("read %d while stopping: t.x produced %d, want 1 (the last status written)", i, got)
		}
	}
	if info, _ := db.Record(StatusKey); info.Stats.Produced != 1 {
		t.Errorf("status record produced %d, want 1", info.Stats.Produced)
	}
	line := "status not written: a read returns the last status written: record=aimdb.status not_written=1 "
	if n := strings.Count(buf.String(), "status not written"); n != 1 || !strings.Contains(buf.String(), line) {
		t.Errorf("%d lines of statuses not written, want 1: %q", n, line)
	}
}

// TestConnectorMetricNotFinite: a connector metric that is NaN or infinite keeps every
// JSON view working, with null for the value: the status record is written, the
// control protocol's connector.list answers; /metrics exports the value as it is.
func TestConnectorMetricNotFinite(t *testing.T) {
	rep := &reporter{}
	rep.set("rep",
		sdk.Metric{Name: "ratio", Kind: sdk.MetricGauge, Value: math.NaN()},
		sdk.Metric{Name: "peak", Kind: sdk.MetricGauge, Value: math.Inf(1)},
		sdk.Metric{Name: "sessions", Kind: sdk.MetricGauge, Value: 3})
	h := startReporterHub(t, rep)
	want := `[{"Name":"ratio","Help":"","Kind":2,"Value":null},{"Name":"peak","Help":"","Kind":2,"Value":null},` +
		`{"Name":"sessions","Help":"","Kind":2,"Value":3}]`
	metricsOf := func(what string, cs []json.RawMessage) {
		t.Helper()
		if len(cs) != 1 {
			t.Fatalf("%s: %d connectors, want 1", what, len(cs))
		}
		var c struct{ Metrics json.RawMessage }
		if err := json.Unmarshal(cs[0], &c); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if string(c.Metrics) != want {
			t.Errorf("%s: metrics %s, want %s", what, c.Metrics, want)
		}
	}

	raw, err := h.db.GetJSON(StatusKey)
	if err != nil {
		t.Fatalf("status read: %v", err)
	}
	var st struct{ Connectors []json.RawMessage }
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	metricsOf("status record", st.Connectors)

	c := wsDial(t, h.base)
	wsSend(t, c, `{"t":"req","id":1,"method":"connector.list"}`)
	f := wsRead(t, c)
	if f.Err != "" {
		t.Fatalf("connector.list: %s: %s", f.Err, f.Msg)
	}
	var cs []json.RawMessage
	if err := json.Unmarshal(f.OK, &cs); err != nil {
		t.Fatalf("connector.list: %v", err)
	}
	metricsOf("connector.list", cs)

	m := scrape(t, h.base)
	inst := map[string]string{"instance": "rep", "kind": "rep"}
	if v, ok := m.value("aimdb_connector_ratio", inst); !ok || !math.IsNaN(v) {
		t.Errorf("aimdb_connector_ratio = %v (present %v), want NaN", v, ok)
	}
	if v, ok := m.value("aimdb_connector_peak", inst); !ok || !math.IsInf(v, 1) {
		t.Errorf("aimdb_connector_peak = %v (present %v), want +Inf", v, ok)
	}
	if strings.Contains(h.log.String(), "status not written") {
		t.Errorf("a status was not written: %s", h.log.String())
	}
}
