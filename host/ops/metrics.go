package ops

import (
	"cmp"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Label sets are bounded by the configuration: record keys, link URLs (passwords
// masked; the scheme names the connector instance), link directions, connector
// instances and kinds, plugin names, error kinds and link states. Nothing derived
// from payloads becomes a label.
var (
	recordLabels    = []string{"record"}
	linkLabels      = []string{"direction", "link", "record"} // sorted: a series' label pairs are built once (labels.go)
	connectorLabels = []string{"instance", "kind"}
)

func desc(name, help string, labels []string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string(nil), labels...), extra...), nil)
}

var (
	recordProduced = desc("aimdb_record_produced_total", "Values written into the record.", recordLabels)
	recordRefused  = desc("aimdb_record_refused_total", "Values the record refused (buffer full) because an at-least-once link was a whole ring behind.", recordLabels)
	recordDropped  = desc("aimdb_record_dropped_total", "Values a consumer of the record never got: overwritten, skipped by a single-latest consumer, or replaced unread in a mailbox.", recordLabels)

	linkDelivered    = desc("aimdb_link_delivered_total", "link_to values the connector confirmed.", linkLabels)
	linkFailed       = desc("aimdb_link_failed_total", "link_to publish attempts that failed, by error kind (every retry counts).", linkLabels, "kind")
	linkRetried      = desc("aimdb_link_retried_total", "link_to values sent again after a retryable failure.", linkLabels)
	linkDeadLettered = desc("aimdb_link_dead_lettered_total", "Values given up on and written to the dead-letter record.", linkLabels)
	linkDropped      = desc("aimdb_link_dropped_total", "link_to values skipped by design: overwritten before a best-effort link read them, or replaced by a newer value.", linkLabels)
	linkAccepted     = desc("aimdb_link_inbound_accepted_total", "link_from messages the record took.", linkLabels)
	linkRefused      = desc("aimdb_link_inbound_refused_total", "link_from messages refused for now because the record was full (held and offered again).", linkLabels)
	linkBacklog      = desc("aimdb_link_backlog", "link_to values waiting for the link: read and not yet confirmed, and still in the record.", linkLabels)
	linkHeld         = desc("aimdb_link_held", "link_from messages waiting for room in the record.", linkLabels)
	linkOutboxMsgs   = desc("aimdb_link_outbox_messages", "Messages in the link's disk outbox.", linkLabels)
	linkOutboxBytes  = desc("aimdb_link_outbox_bytes", "Payload bytes in the link's disk outbox.", linkLabels)
	linkState        = desc("aimdb_link_state", "1 for the link's current state (ok, retrying, blocked, failing), 0 for the others.", linkLabels, "state")
	linkLatency      = desc("aimdb_link_publish_latency_seconds", "Time from the link reading a value out of its record to the connector confirming it.", linkLabels)

	connectorUp       = desc("aimdb_connector_up", "1 while the connector instance runs (its plugin is not restarting).", connectorLabels)
	connectorHealthy  = desc("aimdb_connector_healthy", "1 while the instance's health check passes (state connected).", connectorLabels)
	connectorRestarts = desc("aimdb_connector_restarts_total", "Restarts of the instance's plugin process.", connectorLabels)

	pluginUp       = desc("aimdb_plugin_up", "1 while the plugin process runs.", []string{"plugin"})
	pluginRestarts = desc("aimdb_plugin_restarts_total", "Restarts of the plugin process.", []string{"plugin"})

	buildInfo = desc("aimdb_build_info", "Always 1; the version is a label.", []string{"version"})
)

// linkStates are the values of aimdb_link_state's state label.
var linkStates = []connect.LinkState{connect.StateOK, connect.StateRetrying, connect.StateBlocked, connect.StateFailing}

// latencyBounds picks the exported histogram buckets out of connect's finer ones: the
// upper bound of bucket k is 2^k µs: 256 µs, 1 ms, 4 ms, 16 ms, 66 ms, 262 ms, 1 s, 8.4 s.
var latencyBounds = []int{8, 10, 12, 14, 16, 18, 20, 23}

// reservedConnectorMetrics are names a connector may not report: the host's own.
var reservedConnectorMetrics = map[string]bool{"up": true, "healthy": true, "restarts_total": true}

// NewRegistry returns a registry with the hub's collector and the Go runtime and
// process collectors.
func NewRegistry(db *host.DB, version string, log hclog.Logger) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(db, version, log))
	return reg
}

// collector reads the host's counters at scrape time: the hot path counts as it does
// anyway, and a scrape costs one pass over records, links and instances.
type collector struct {
	db      *host.DB
	version string
	log     hclog.Logger

	labels labelCache // the label pairs of records and links, built once

	mu     sync.Mutex
	custom map[string]customDesc // connector-reported metrics by name
	warned map[string]bool       // names refused, logged once
}

// customDesc is the description of a connector-reported metric.
type customDesc struct {
	desc *prometheus.Desc
	kind sdk.MetricKind
}

func newCollector(db *host.DB, version string, log hclog.Logger) *collector {
	return &collector{db: db, version: version, log: log, custom: map[string]customDesc{}, warned: map[string]bool{},
		labels: newLabelCache()}
}

// Describe sends nothing: the connector-reported metrics are known only at scrape
// time, so the collector is unchecked.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads every counter now.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(buildInfo, prometheus.GaugeValue, 1, c.version)
	recs := c.db.Records()
	// Series go out in the order the exposition sorts them in, so the registry's
	// sort of each family finds them sorted.
	slices.SortFunc(recs, func(a, b host.RecordInfo) int { return strings.Compare(a.Key, b.Key) })
	out := newSamples(ch, 3*len(recs))
	for _, r := range recs {
		lp := c.labels.record(r.Key)
		out.counter(recordProduced, lp, r.Stats.Produced)
		out.counter(recordRefused, lp, r.Stats.Refused)
		out.counter(recordDropped, lp, r.Stats.Dropped)
	}
	svc := connect.Of(c.db)
	if svc == nil {
		return
	}
	c.collectLinks(ch, svc)
	c.collectConnectors(ch, svc.Connectors())
}

// collectLinks sends every link's counters, gauges, state and latency.
func (c *collector) collectLinks(ch chan<- prometheus.Metric, svc *connect.Service) {
	lat := svc.PublishLatencies()
	links := svc.Links()
	slices.SortFunc(links, func(a, b connect.LinkStatus) int {
		return cmp.Or(strings.Compare(a.Direction, b.Direction), strings.Compare(a.URL, b.URL), strings.Compare(a.Record, b.Record))
	})
	slices.SortFunc(lat, func(a, b connect.LinkLatency) int { return a.ID - b.ID })
	out := newSamples(ch, 10*len(links))
	for _, l := range links {
		ll := c.labels.link(l)
		for i, s := range linkStates {
			out.gauge(linkState, ll.states[i], boolValue(l.State == s))
		}
		out.counter(linkDeadLettered, ll.base, l.Stats.DeadLettered)
		if l.Direction == sdk.Inbound.String() {
			out.counter(linkAccepted, ll.base, l.Stats.Received)
			out.counter(linkRefused, ll.base, l.Stats.Refused)
			out.gauge(linkHeld, ll.base, float64(l.Held))
			continue
		}
		out.counter(linkDelivered, ll.base, l.Stats.Delivered)
		out.counter(linkRetried, ll.base, l.Stats.Retried)
		out.counter(linkDropped, ll.base, l.Stats.Dropped)
		for kind, n := range l.FailedByKind {
			out.counter(linkFailed, c.labels.failed(l, kind), n)
		}
		out.gauge(linkBacklog, ll.base, float64(l.InFlight)+float64(l.Backlog))
		if l.Outbox == connect.OutboxDisk {
			out.gauge(linkOutboxMsgs, ll.base, float64(l.OutboxMessages))
			out.gauge(linkOutboxBytes, ll.base, float64(l.OutboxBytes))
		}
		if i, ok := slices.BinarySearchFunc(lat, l.ID, func(h connect.LinkLatency, id int) int { return h.ID - id }); ok {
			out.histogram(linkLatency, ll.base, lat[i])
		}
	}
}

// collectConnectors sends every instance's state, its plugin process's and the
// metrics the instance reports itself.
func (c *collector) collectConnectors(ch chan<- prometheus.Metric, cs []connect.ConnectorStatus) {
	type proc struct {
		up       bool
		restarts int
	}
	plugins := map[string]proc{}
	for _, s := range cs {
		running := s.State != "restarting" && s.State != "crash loop"
		ch <- prometheus.MustNewConstMetric(connectorUp, prometheus.GaugeValue, boolValue(running), s.Name, s.Kind)
		ch <- prometheus.MustNewConstMetric(connectorHealthy, prometheus.GaugeValue, boolValue(s.State == "connected"), s.Name, s.Kind)
		ch <- prometheus.MustNewConstMetric(connectorRestarts, prometheus.CounterValue, float64(s.Restarts), s.Name, s.Kind)
		if s.Plugin != "" {
			plugins[filepath.Base(s.Plugin)] = proc{up: running, restarts: s.Restarts}
		}
		for _, m := range s.Metrics {
			if d, ok := c.customDesc(s.Name, m); ok {
				vt := prometheus.GaugeValue
				if m.Kind == sdk.MetricCounter {
					vt = prometheus.CounterValue
				}
				ch <- prometheus.MustNewConstMetric(d, vt, m.Value, s.Name, s.Kind)
			}
		}
	}
	for name, p := range plugins {
		ch <- prometheus.MustNewConstMetric(pluginUp, prometheus.GaugeValue, boolValue(p.up), name)
		ch <- prometheus.MustNewConstMetric(pluginRestarts, prometheus.CounterValue, float64(p.restarts), name)
	}
}

// customDesc returns the description of a connector-reported metric, made on first
// sight; a name that is not a valid metric name, is reserved, or changes kind is
// refused (logged once).
func (c *collector) customDesc(instance string, m sdk.Metric) (*prometheus.Desc, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.custom[m.Name]; ok {
		if d.kind == m.Kind {
			return d.desc, true
		}
		c.refuse(instance, m, "it was reported before as another kind")
		return nil, false
	}
	switch {
	case !validMetricName(m.Name):
		c.refuse(instance, m, "a metric name holds only a-z, 0-9 and '_' and does not start with a digit")
		return nil, false
	case reservedConnectorMetrics[m.Name]:
		c.refuse(instance, m, "the host exports a metric of that name itself")
		return nil, false
	case m.Kind != sdk.MetricCounter && m.Kind != sdk.MetricGauge:
		c.refuse(instance, m, "its kind is neither counter nor gauge")
		return nil, false
	}
	help := m.Help
	if help == "" {
		help = "Reported by the connector."
	}
	d := customDesc{desc: desc("aimdb_connector_"+m.Name, help, connectorLabels), kind: m.Kind}
	c.custom[m.Name] = d
	return d.desc, true
}

// refuse logs a refused connector metric once per name. c.mu is held.
func (c *collector) refuse(instance string, m sdk.Metric, why string) {
	if !c.warned[m.Name] {
		c.warned[m.Name] = true
		c.log.Warn("connector metric not exported", "instance", instance, "metric", m.Name, "reason", why)
	}
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// scrapeTimeout bounds one /metrics request.
const scrapeTimeout = 10 * time.Second
