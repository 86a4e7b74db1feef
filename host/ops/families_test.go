package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/internal/testport"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// reporter is an in-process connector kind "rep" whose instances report the metrics
// the test sets (sdk.MetricsReporter) and accept every publish.
type reporter struct {
	mu      sync.Mutex
	ms      map[string][]sdk.Metric // by instance
	publish error                   // what every publish returns
}

func (r *reporter) Scheme() string { return "rep" }

func (r *reporter) Build(_ context.Context, bc *sdk.BuildContext) (sdk.Connector, error) {
	return &repConn{r: r, name: bc.Instance}, nil
}

// set makes instance report ms from its next health check on.
func (r *reporter) set(instance string, ms ...sdk.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ms == nil {
		r.ms = map[string][]sdk.Metric{}
	}
	r.ms[instance] = ms
}

// failPublish makes every publish return err while the instances stay healthy.
func (r *reporter) failPublish(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publish = err
}

type repConn struct {
	r    *reporter
	name string
}

// Publish returns what the test set (failPublish).
func (c *repConn) Publish(context.Context, string, sdk.Config, []byte) error {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return c.r.publish
}
func (c *repConn) Close(context.Context) error { return nil }

// Metrics reports what the test set for the instance.
func (c *repConn) Metrics() []sdk.Metric {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return slices.Clone(c.r.ms[c.name])
}

// metricsHub starts a hub whose /metrics has every kind of series: records, links
// both ways (ok, failing with dead letters, failures by two kinds, a disk outbox,
// latency), two plugin processes (the MQTT plugin with its embedded broker and its
// own counters), two instances of the in-process kind "rep" reporting rep's metrics,
// refused ones included. It returns when that state is reached and stays put.
func metricsHub(t *testing.T, rep *reporter) *hub {
	t.Helper()
	broker := testport.Addr(t)
	down := filepath.Join(t.TempDir(), "down")
	if err := os.WriteFile(down, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
connector "mqtt" {
  url             = "mqtt://%[1]s"
  embedded_broker = "%[1]s"
}
connector "lb" {
  plugin           = "loopback"
  inject           = "none"
  fail_destination = "bad"
}
connector "down" {
  plugin     = "loopback"
  inject     = "none"
  down_while = %[2]q
  retry_min  = "20ms"
  retry_max  = "50ms"
}
connector "rep" {}
connector "rep2" {
  plugin = "rep"
}
record "r.a" {
  link_to   "lb://ok" {}
  link_from "lb://in" {}
}
record "r.b" {
  writable = true
  link_to "lb://bad" {}
}
record "r.c" {
  writable = true
  link_to "down://x" { outbox = "disk" }
  link_to "lb://bad" {}
}
record "r.m" {
  writable = true
  link_to "mqtt://t/m" { qos = 1 }
}
record "r.in" {
  link_from "mqtt://t/in" {}
}
record "r.rep" {
  link_to "rep://x" {}
  link_to "rep2://x" {}
}
`, broker, down)
	h := startHub(t, src, Options{Version: "test"}, connect.WithConnector(loopback.NewBuilder()),
		connect.WithConnector(rep), connect.WithDataDir(t.TempDir()))
	for _, k := range []string{"r.b", "r.c", "r.m"} {
		if err := h.db.SetJSON(k, json.RawMessage(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	link := func(record, url string) connect.LinkStatus {
		for _, l := range connect.Of(h.db).Links() {
			if l.Record == record && l.URL == url {
				return l
			}
		}
		t.Fatalf("no link %s %s", record, url)
		return connect.LinkStatus{}
	}
	eventually(t, 10*time.Second, "r.c's link fails with connection failed", func() bool {
		return link("r.c", "down://x").FailedByKind["connection failed"] >= 2
	})
	if err := os.Remove(down); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "values delivered or dead-lettered", func() bool {
		return link("r.c", "down://x").Stats.Delivered == 1 && link("r.m", "mqtt://t/m").Stats.Delivered == 1 &&
			link("r.b", "lb://bad").Stats.DeadLettered == 1 && link("r.c", "lb://bad").Stats.DeadLettered == 1
	})
	eventually(t, 10*time.Second, "connector metrics reported", func() bool {
		n := 0
		for _, c := range connect.Of(h.db).Connectors() {
			if len(c.Metrics) > 0 {
				n++
			}
		}
		return n == 3
	})
	return h
}

// reportedMetrics are what the two "rep" instances report: good ones, and one of each
// refusal (bad name, reserved name, bad kind, reported twice, another kind than before).
func setReportedMetrics(rep *reporter) {
	rep.set("rep",
		sdk.Metric{Name: "sessions", Help: "Sessions open.", Kind: sdk.MetricGauge, Value: 3},
		sdk.Metric{Name: "frames_total", Help: "Frames sent.", Kind: sdk.MetricCounter, Value: 42},
		sdk.Metric{Name: "Bad-Name", Kind: sdk.MetricGauge, Value: 1},
		sdk.Metric{Name: "up", Kind: sdk.MetricGauge, Value: 1},
		sdk.Metric{Name: "metrics_refused_total", Kind: sdk.MetricCounter, Value: 1},
		sdk.Metric{Name: "odd_kind", Kind: 9, Value: 1},
		sdk.Metric{Name: "frames_total", Help: "Frames sent.", Kind: sdk.MetricCounter, Value: 43},
		sdk.Metric{Name: "mixed", Kind: sdk.MetricCounter, Value: 5},
	)
	rep.set("rep2",
		sdk.Metric{Name: "frames_total", Help: "Another help.", Kind: sdk.MetricCounter, Value: 7},
		sdk.Metric{Name: "mixed", Kind: sdk.MetricGauge, Value: 6},
		sdk.Metric{Name: "no_help", Kind: sdk.MetricGauge, Value: 0.5},
	)
}

// text encodes the families named aimdb_* in the Prometheus text format.
func text(t *testing.T, mfs []*dto.MetricFamily) string {
	t.Helper()
	var b bytes.Buffer
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "aimdb_") {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// relay is a collector that sends families made elsewhere through a client_golang
// registry, which checks them as it checks any collector's.
type relay []*dto.MetricFamily

func (relay) Describe(chan<- *prometheus.Desc) {}

func (r relay) Collect(ch chan<- prometheus.Metric) {
	for _, mf := range r {
		for _, m := range mf.Metric {
			var names, values []string
			for _, lp := range m.Label {
				names, values = append(names, lp.GetName()), append(values, lp.GetValue())
			}
			d := prometheus.NewDesc(mf.GetName(), mf.GetHelp(), names, nil)
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, m.Counter.GetValue(), values...)
			case dto.MetricType_GAUGE:
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, m.Gauge.GetValue(), values...)
			case dto.MetricType_HISTOGRAM:
				buckets := map[float64]uint64{}
				for _, b := range m.Histogram.Bucket {
					buckets[b.GetUpperBound()] = b.GetCumulativeCount()
				}
				ch <- prometheus.MustNewConstHistogram(d, m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum(), buckets, values...)
			default:
				ch <- prometheus.NewInvalidMetric(d, fmt.Errorf("type %v", mf.GetType()))
			}
		}
	}
}

// TestFamiliesPassRegistryChecks: the families /metrics builds straight from the
// hub's state are what client_golang's registry makes of them: its checks pass
// (valid names, one help and one type per name, the same label names in every
// series of a family, no series twice) and its sorting finds them already sorted.
func TestFamiliesPassRegistryChecks(t *testing.T) {
	rep := &reporter{}
	setReportedMetrics(rep)
	h := metricsHub(t, rep)
	log, _ := testLogger(t)
	g := newGatherer(h.db, "test", log)
	mfs, done, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	var own relay
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "aimdb_") {
			own = append(own, mf)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(own)
	checked, err := reg.Gather()
	if err != nil {
		t.Fatalf("the registry refuses the families: %v", err)
	}
	if got, want := text(t, mfs), text(t, checked); got != want {
		t.Fatalf("gathered:\n%s\nthrough the registry:\n%s", got, want)
	}
	t.Logf("%d lines", strings.Count(text(t, mfs), "\n"))
}

// TestConnectorMetricRefusals: what a connector reports itself reaches /metrics as
// aimdb_connector_<name> with its help (the first seen) and kind; a bad name, a name
// the host exports itself, a kind that is neither counter nor gauge, a name reported
// twice by one instance, and a name reported before as another kind are refused,
// each with one log line however many scrapes see it, and counted at every scrape in
// aimdb_connector_metrics_refused_total.
func TestConnectorMetricRefusals(t *testing.T) {
	rep := &reporter{}
	setReportedMetrics(rep)
	h := metricsHub(t, rep)
	var m metrics
	for range 3 {
		m = scrape(t, h.base)
	}
	inst := func(name string) map[string]string { return map[string]string{"instance": name, "kind": "rep"} }
	for _, c := range []struct {
		name, instance string
		value          float64
	}{
		{"aimdb_connector_sessions", "rep", 3},
		{"aimdb_connector_frames_total", "rep", 42}, // the first of the two
		{"aimdb_connector_frames_total", "rep2", 7},
		{"aimdb_connector_mixed", "rep", 5},
		{"aimdb_connector_no_help", "rep2", 0.5},
	} {
		if v, ok := m.value(c.name, inst(c.instance)); !ok || v != c.value {
			t.Errorf("%s{instance=%q} = %v (present %v), want %v", c.name, c.instance, v, ok, c.value)
		}
	}
	for name, want := range map[string]struct {
		help string
		typ  dto.MetricType
		n    int
	}{
		"aimdb_connector_sessions":     {"Sessions open.", dto.MetricType_GAUGE, 1},
		"aimdb_connector_frames_total": {"Frames sent.", dto.MetricType_COUNTER, 2},
		"aimdb_connector_mixed":        {"Reported by the connector.", dto.MetricType_COUNTER, 1},
		"aimdb_connector_no_help":      {"Reported by the connector.", dto.MetricType_GAUGE, 1},
		"aimdb_connector_up":           {"1 while the connector instance runs (its plugin is not restarting).", dto.MetricType_GAUGE, 5},
	} {
		f := m[name]
		if f == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if f.GetHelp() != want.help || f.GetType() != want.typ || len(f.Metric) != want.n {
			t.Errorf("%s: help %q, type %v, %d series; want %q, %v, %d", name, f.GetHelp(), f.GetType(), len(f.Metric), want.help, want.typ, want.n)
		}
	}
	for name := range m {
		if strings.Contains(strings.ToLower(name), "bad") || strings.Contains(name, "odd_kind") {
			t.Errorf("refused metric %s exported", name)
		}
	}
	for metric, reason := range map[string]string{
		"Bad-Name":              "a metric name holds only a-z, 0-9 and '_' and does not start with a digit",
		"up":                    "the host exports a metric of that name itself",
		"metrics_refused_total": "the host exports a metric of that name itself",
		"odd_kind":              "its kind is neither counter nor gauge",
		"frames_total":          "the instance reported it twice",
		"mixed":                 "it was reported before as another kind",
	} {
		line := fmt.Sprintf("connector metric not exported: instance=%s metric=%s reason=%q", map[bool]string{true: "rep2", false: "rep"}[metric == "mixed"], metric, reason)
		if n := strings.Count(h.log.String(), line); n != 1 {
			t.Errorf("log line %q %d times, want once", line, n)
		}
	}
	// Per scrape, rep refuses Bad-Name, up, metrics_refused_total, odd_kind and its
	// second frames_total; rep2 refuses mixed; mqtt nothing.
	for instance, want := range map[string]float64{"rep": 3 * 5, "rep2": 3 * 1} {
		if v, ok := m.value("aimdb_connector_metrics_refused_total", inst(instance)); v != want {
			t.Errorf("aimdb_connector_metrics_refused_total{instance=%q} = %v (present %v) after 3 scrapes, want %v", instance, v, ok, want)
		}
	}
	if v, ok := m.value("aimdb_connector_metrics_refused_total", map[string]string{"instance": "mqtt"}); !ok || v != 0 {
		t.Errorf("aimdb_connector_metrics_refused_total{instance=\"mqtt\"} = %v (present %v), want 0", v, ok)
	}
}

// TestFamSetReuse: a scrape that fills the memory of an earlier one with other series
// (a histogram's place taken by a counter, fewer series) renders exactly what a
// scrape into fresh memory renders.
func TestFamSetReuse(t *testing.T) {
	lp := []*dto.LabelPair{pair("direction", "link_to"), pair("link", "x://a"), pair("record", "r")}
	lat := connect.LinkLatency{Sum: 3 * time.Millisecond}
	lat.Counts[9], lat.Counts[12] = 2, 1
	before := func(s *famSet) {
		s.histogram(famLinkLatency, lp, lat)
		s.gauge(famLinkBacklog, lp, 2)
		s.counter(famLinkRetried, lp, 9)
		for range 2 * blockSize {
			s.gauge(famLinkHeld, lp, 1)
		}
	}
	after := func(s *famSet) {
		s.counter(famLinkDelivered, lp, 7)
		s.histogram(famLinkLatency, lp, connect.LinkLatency{})
		s.gauge(famLinkBacklog, lp, 0)
	}
	present := func(s *famSet) []*dto.MetricFamily {
		var out []*dto.MetricFamily
		for _, mf := range s.fams {
			if len(mf.Metric) > 0 {
				out = append(out, mf)
			}
		}
		return out
	}
	var reused, fresh famSet
	reused.reset()
	before(&reused)
	reused.reset()
	after(&reused)
	fresh.reset()
	after(&fresh)
	got, want := present(&reused), present(&fresh)
	if !slices.EqualFunc(got, want, func(a, b *dto.MetricFamily) bool { return proto.Equal(a, b) }) {
		t.Fatalf("into reused memory:\n%v\ninto fresh memory:\n%v", got, want)
	}
}

// TestConnectorMetricLimit: the connectors' own metrics are bounded: the first
// maxConnectorMetrics names reach /metrics, more are refused, and at most that many
// refused names are logged, each once; the refusals of names past those are still
// counted in aimdb_connector_metrics_refused_total and logged together, at most every
// summaryEvery.
func TestConnectorMetricLimit(t *testing.T) {
	rep := &reporter{}
	var ms []sdk.Metric
	for i := range maxConnectorMetrics + 5 {
		ms = append(ms, sdk.Metric{Name: fmt.Sprintf("m%03d", i), Kind: sdk.MetricGauge, Value: float64(i)})
	}
	for i := range 300 {
		ms = append(ms, sdk.Metric{Name: fmt.Sprintf("Bad%d", i), Kind: sdk.MetricGauge})
	}
	rep.set("rep", ms...)
	h := startReporterHub(t, rep)
	var m metrics
	for range 2 {
		m = scrape(t, h.base)
	}
	inst := map[string]string{"instance": "rep", "kind": "rep"}
	for i := range maxConnectorMetrics + 5 {
		name := fmt.Sprintf("aimdb_connector_m%03d", i)
		v, ok := m.value(name, inst)
		if want := i < maxConnectorMetrics; ok != want || ok && v != float64(i) {
			t.Errorf("%s = %v, present %v; want present %v", name, v, ok, want)
		}
	}
	over := fmt.Sprintf(`reason="the connectors reported %d metric names already, the most /metrics takes"`, maxConnectorMetrics)
	logs := h.log.String()
	if n := strings.Count(logs, over); n != 5 {
		t.Errorf("%d lines refusing names over the limit, want 5", n)
	}
	if n := strings.Count(logs, "connector metric not exported"); n != maxConnectorMetrics {
		t.Errorf("%d refusals logged, want %d (the first names refused, once each)", n, maxConnectorMetrics)
	}
	// Per scrape: 5 names over the limit and 300 bad names refused; the first 200 of
	// them are logged by name, the other 105 are not.
	perScrape := 5 + 300
	if v, _ := m.value("aimdb_connector_metrics_refused_total", inst); v != float64(2*perScrape) {
		t.Errorf("aimdb_connector_metrics_refused_total = %v after 2 scrapes, want %d", v, 2*perScrape)
	}
	summary := `more connector metrics not exported, not logged by name: refusals=1 instance=rep metric=Bad195 reason="a metric name holds only a-z, 0-9 and '_' and does not start with a digit" counted_in=aimdb_connector_metrics_refused_total`
	if n := strings.Count(logs, "more connector metrics not exported"); n != 1 || !strings.Contains(logs, summary) {
		t.Errorf("%d summary lines, want 1: %q", n, summary)
	}
}

// startReporterHub starts a hub whose connector "rep" is rep, linked to one record,
// and waits until its metrics have been read once.
func startReporterHub(t *testing.T, rep *reporter) *hub {
	t.Helper()
	h := startHub(t, `
connector "rep" {}
record "r" {
  link_to "rep://x" {}
}
`, Options{}, connect.WithConnector(rep))
	eventually(t, 10*time.Second, "connector metrics reported", func() bool {
		return len(connect.Of(h.db).Connectors()[0].Metrics) > 0
	})
	return h
}
