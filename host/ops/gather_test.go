package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// reporter is an in-process connector kind "rep" whose instances report the metrics
// the test sets (sdk.MetricsReporter) and accept every publish.
type reporter struct {
	mu sync.Mutex
	ms map[string][]sdk.Metric // by instance
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

type repConn struct {
	r    *reporter
	name string
}

func (c *repConn) Publish(context.Context, string, sdk.Config, []byte) error { return nil }
func (c *repConn) Close(context.Context) error                            { return nil }

// Metrics reports what the test set for the instance.
func (c *repConn) Metrics() []sdk.Metric {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return slices.Clone(c.r.ms[c.name])
}

// freePort returns a loopback address nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// metricsHub starts a hub whose /metrics has every kind of series: records, links
// both ways (ok, failing with dead letters, failures by two kinds, a disk outbox,
// latency), two plugin processes (the MQTT plugin with its embedded broker and its
// own counters), two instances of the in-process kind "rep" reporting rep's metrics,
// refused ones included. It returns when that state is reached and stays put.
func metricsHub(t *testing.T, rep *reporter) *hub {
	t.Helper()
	broker := freePort(t)
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

// TestGatherMatchesRegistry: the families built straight from the hub's state are
// those the client_golang registry made of the same state through the collector.
func TestGatherMatchesRegistry(t *testing.T) {
	rep := &reporter{}
	setReportedMetrics(rep)
	h := metricsHub(t, rep)
	log, _ := testLogger(t)
	g := newGatherer(h.db, "test", log)
	reg := NewRegistry(h.db, "test", log)
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := reg.Gather() // reports the duplicate the collector sent
	if got, want := text(t, mfs), text(t, want); got != want {
		t.Fatalf("gathered:\n%s\nregistry:\n%s", got, want)
	}
	t.Logf("%d lines equal:\n%s", strings.Count(text(t, mfs), "\n"), text(t, mfs))
}
