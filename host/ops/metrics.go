package ops

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Label sets are bounded by the configuration: record keys, link URLs (passwords
// masked; the scheme names the connector instance), link directions, connector
// instances and kinds, plugin names, error kinds and link states. Nothing derived
// from payloads becomes a label.

// family is one of the hub's metric families: its name, help and type.
type family struct {
	name, help string
	typ        dto.MetricType
}

// The hub's families, in name order (the exposition's), indexed by fam* below.
var families = [...]family{
	famBuildInfo:         {"aimdb_build_info", "Always 1; the version is a label.", dto.MetricType_GAUGE},
	famConnectorHealthy:  {"aimdb_connector_healthy", "1 while the instance's health check passes (state connected).", dto.MetricType_GAUGE},
	famConnectorRefused:  {"aimdb_connector_metrics_refused_total", "Metrics the instance reported that a scrape left out (bad name, reserved, reported twice, kind changed, past the limit), counted at every scrape.", dto.MetricType_COUNTER},
	famConnectorRestarts: {"aimdb_connector_restarts_total", "Restarts of the instance's plugin process.", dto.MetricType_COUNTER},
	famConnectorUp:       {"aimdb_connector_up", "1 while the connector instance runs (its plugin is not restarting).", dto.MetricType_GAUGE},
	famLinkBacklog:       {"aimdb_link_backlog", "link_to values waiting for the link: read and not yet confirmed, and still in the record.", dto.MetricType_GAUGE},
	famLinkDeadLettered:  {"aimdb_link_dead_lettered_total", "Values given up on and written to the dead-letter record.", dto.MetricType_COUNTER},
	famLinkDelivered:     {"aimdb_link_delivered_total", "link_to values the connector confirmed.", dto.MetricType_COUNTER},
	famLinkDropped:       {"aimdb_link_dropped_total", "link_to values skipped by design: overwritten before a best-effort link read them, or replaced by a newer value.", dto.MetricType_COUNTER},
	famLinkFailed:        {"aimdb_link_failed_total", "link_to publish attempts that failed, by error kind (every retry counts).", dto.MetricType_COUNTER},
	famLinkHeld:          {"aimdb_link_held", "link_from messages waiting for room in the record.", dto.MetricType_GAUGE},
	famLinkAccepted:      {"aimdb_link_inbound_accepted_total", "link_from messages the record took.", dto.MetricType_COUNTER},
	famLinkRefused:       {"aimdb_link_inbound_refused_total", "link_from messages refused for now because the record was full (held and offered again).", dto.MetricType_COUNTER},
	famLinkOutboxBytes:   {"aimdb_link_outbox_bytes", "Payload bytes in the link's disk outbox.", dto.MetricType_GAUGE},
	famLinkOutboxMsgs:    {"aimdb_link_outbox_messages", "Messages in the link's disk outbox.", dto.MetricType_GAUGE},
	famLinkLatency:       {"aimdb_link_publish_latency_seconds", "Time from the link reading a value out of its record to the connector confirming it.", dto.MetricType_HISTOGRAM},
	famLinkRetried:       {"aimdb_link_retried_total", "link_to values sent again after a retryable failure.", dto.MetricType_COUNTER},
	famLinkState:         {"aimdb_link_state", "1 for the link's current state (ok, retrying, blocked, failing), 0 for the others.", dto.MetricType_GAUGE},
	famPluginRestarts:    {"aimdb_plugin_restarts_total", "Restarts of the plugin process.", dto.MetricType_COUNTER},
	famPluginUp:          {"aimdb_plugin_up", "1 while the plugin process runs.", dto.MetricType_GAUGE},
	famRecordDropped:     {"aimdb_record_dropped_total", "Values a consumer of the record never got: overwritten, skipped by a single-latest consumer, or replaced unread in a mailbox.", dto.MetricType_COUNTER},
	famRecordProduced:    {"aimdb_record_produced_total", "Values written into the record.", dto.MetricType_COUNTER},
	famRecordRefused:     {"aimdb_record_refused_total", "Values the record refused (buffer full) because an at-least-once link was a whole ring behind.", dto.MetricType_COUNTER},
}

// Indexes into families.
const (
	famBuildInfo = iota
	famConnectorHealthy
	famConnectorRefused
	famConnectorRestarts
	famConnectorUp
	famLinkBacklog
	famLinkDeadLettered
	famLinkDelivered
	famLinkDropped
	famLinkFailed
	famLinkHeld
	famLinkAccepted
	famLinkRefused
	famLinkOutboxBytes
	famLinkOutboxMsgs
	famLinkLatency
	famLinkRetried
	famLinkState
	famPluginRestarts
	famPluginUp
	famRecordDropped
	famRecordProduced
	famRecordRefused
	numFamilies
)

// sortedStates are the link states in the order of their label value, and
// stateLabel[i] is the index of sortedStates[i] in linkStates (the label cache's order).
var sortedStates, stateLabel = func() ([]connect.LinkState, []int) {
	s := slices.Clone(linkStates)
	slices.Sort(s)
	idx := make([]int, len(s))
	for i, st := range s {
		idx[i] = slices.Index(linkStates, st)
	}
	return s, idx
}()

// gatherer makes the families of /metrics: the hub's, built straight from its state
// at scrape time in the order the exposition wants (label pairs from the labelCache,
// series sorted as they are made), and the Go runtime and process collectors' through
// a client_golang registry.
type gatherer struct {
	db      *host.DB
	log     hclog.Logger
	runtime prometheus.Gatherer

	labels    labelCache       // the label pairs of records and links, built once
	buildInfo []*dto.LabelPair // aimdb_build_info's
	sets      sync.Pool        // of *famSet: the memory of earlier scrapes

	mu       sync.Mutex
	custom   map[string]customFamily // connector-reported metrics by name
	warned   map[string]bool         // names refused, logged once
	refused  map[string]uint64       // refusals by instance, every scrape's
	unlogged uint64                  // refusals not logged by name since the last summary line
	summary  time.Time               // when the last summary line was logged
}

// customFamily is the help and kind of a connector-reported metric, as first seen.
type customFamily struct {
	help string
	kind sdk.MetricKind
}

// newGatherer returns the gatherer of db's /metrics.
func newGatherer(db *host.DB, version string, log hclog.Logger) *gatherer {
	rt := prometheus.NewRegistry()
	rt.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &gatherer{db: db, log: log, runtime: rt, labels: newLabelCache(),
		buildInfo: []*dto.LabelPair{pair("version", version)}, custom: map[string]customFamily{}, warned: map[string]bool{}, refused: map[string]uint64{}}
}

// Gather returns every family, sorted by name; done hands the hub's families back
// for the next scrape to fill again (prometheus.TransactionalGatherer). It never
// fails: a Go or process metric that cannot be read is logged and left out, so it
// does not hide the others.
func (g *gatherer) Gather() (_ []*dto.MetricFamily, done func(), _ error) {
	s, _ := g.sets.Get().(*famSet)
	if s == nil {
		s = &famSet{}
	}
	s.reset()
	rt, err := g.runtime.Gather()
	if err != nil {
		g.log.Warn("Go or process metrics left out", "error", err)
	}
	g.hub(s)
	mfs := append(s.out, rt...)
	for _, mf := range s.fams {
		if len(mf.GetMetric()) > 0 {
			mfs = append(mfs, mf)
		}
	}
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	s.out = mfs
	return mfs, func() { g.sets.Put(s) }, nil
}

// blockSize is how many values a block of a blocks holds.
const blockSize = 1024

// blocks hands out values from blocks that are kept from one scrape to the next, so a
// scrape of a hub whose size does not change allocates none of its series.
type blocks[T any] struct {
	b [][]T
	n int
}

// next returns the next value, as the previous scrape left it.
func (p *blocks[T]) next() *T {
	i, j := p.n/blockSize, p.n%blockSize
	if i == len(p.b) {
		p.b = append(p.b, make([]T, blockSize))
	}
	p.n++
	return &p.b[i][j]
}

// histo is one latency histogram of a scrape with its buckets.
type histo struct {
	h       dto.Histogram
	count   uint64
	sum     float64
	buckets [len(latencyBounds)]dto.Bucket
	ptrs    [len(latencyBounds)]*dto.Bucket
	counts  [len(latencyBounds)]uint64
	bounds  [len(latencyBounds)]float64
}

// famSet is the hub's families of one scrape, built into the memory of the previous
// scrape that used the same famSet.
type famSet struct {
	fams     [numFamilies]*dto.MetricFamily
	out      []*dto.MetricFamily // the scrape's families, every one
	metrics  blocks[dto.Metric]
	counters blocks[dto.Counter]
	gauges   blocks[dto.Gauge]
	values   blocks[float64]
	histos   blocks[histo]
}

// reset empties s for a new scrape.
func (s *famSet) reset() {
	for f, mf := range s.fams {
		if mf == nil {
			mf = &dto.MetricFamily{Name: &families[f].name, Help: &families[f].help, Type: families[f].typ.Enum()}
			s.fams[f] = mf
		}
		mf.Metric = mf.Metric[:0]
	}
	clear(s.out)
	s.out = s.out[:0]
	s.metrics.n, s.counters.n, s.gauges.n, s.values.n, s.histos.n = 0, 0, 0, 0, 0
}

// metric returns a metric with labels lp and no value yet.
func (s *famSet) metric(lp []*dto.LabelPair) *dto.Metric {
	m := s.metrics.next()
	m.Label, m.Counter, m.Gauge, m.Histogram = lp, nil, nil, nil
	return m
}

// value returns a pointer to v kept in s.
func (s *famSet) value(v float64) *float64 {
	p := s.values.next()
	*p = v
	return p
}

func (s *famSet) counterOf(v float64) *dto.Counter {
	c := s.counters.next()
	c.Value = s.value(v)
	return c
}

func (s *famSet) gaugeOf(v float64) *dto.Gauge {
	g := s.gauges.next()
	g.Value = s.value(v)
	return g
}

func (s *famSet) counter(f int, lp []*dto.LabelPair, v uint64) {
	m := s.metric(lp)
	m.Counter = s.counterOf(float64(v))
	s.fams[f].Metric = append(s.fams[f].Metric, m)
}

func (s *famSet) gauge(f int, lp []*dto.LabelPair, v float64) {
	m := s.metric(lp)
	m.Gauge = s.gaugeOf(v)
	s.fams[f].Metric = append(s.fams[f].Metric, m)
}

// histogram adds connect's latency histogram in the exported buckets (latencyBounds).
func (s *famSet) histogram(f int, lp []*dto.LabelPair, h connect.LinkLatency) {
	x := s.histos.next()
	x.count, x.sum = 0, h.Sum.Seconds()
	for _, n := range h.Counts {
		x.count += n
	}
	var cum uint64
	k := 0
	for i, b := range latencyBounds {
		for ; k <= b; k++ {
			cum += h.Counts[k]
		}
		x.counts[i], x.bounds[i] = cum, float64(uint64(1)<<b)*1e-6
		x.buckets[i].CumulativeCount, x.buckets[i].UpperBound = &x.counts[i], &x.bounds[i]
		x.ptrs[i] = &x.buckets[i]
	}
	x.h.SampleCount, x.h.SampleSum, x.h.Bucket = &x.count, &x.sum, x.ptrs[:]
	m := s.metric(lp)
	m.Histogram = &x.h
	s.fams[f].Metric = append(s.fams[f].Metric, m)
}

// hub reads the hub's state now into s: its families, and the families of the
// metrics connectors report in s.out.
func (g *gatherer) hub(s *famSet) {
	s.gauge(famBuildInfo, g.buildInfo, 1)
	recs := g.db.RecordStats()
	slices.SortFunc(recs, func(a, b host.KeyStats) int { return strings.Compare(a.Key, b.Key) })
	for _, r := range recs {
		lp := g.labels.record(r.Key)
		s.counter(famRecordProduced, lp, r.Stats.Produced)
		s.counter(famRecordRefused, lp, r.Stats.Refused)
		s.counter(famRecordDropped, lp, r.Stats.Dropped)
	}
	if svc := connect.Of(g.db); svc != nil {
		g.links(s, svc)
		s.out = append(s.out, g.connectors(s, svc.Connectors())...)
	}
}

// links adds every link's counters, gauges, state and latency.
func (g *gatherer) links(s *famSet, svc *connect.Service) {
	lat := svc.PublishLatencies()
	links := svc.Links()
	slices.SortFunc(links, func(a, b connect.LinkStatus) int {
		return cmp.Or(strings.Compare(a.Direction, b.Direction), strings.Compare(a.URL, b.URL), strings.Compare(a.Record, b.Record))
	})
	for _, l := range links {
		ll := g.labels.link(l)
		for i, st := range sortedStates {
			s.gauge(famLinkState, ll.states[stateLabel[i]], boolValue(l.State == st))
		}
		s.counter(famLinkDeadLettered, ll.base, l.Stats.DeadLettered)
		if l.Direction == sdk.Inbound.String() {
			s.counter(famLinkAccepted, ll.base, l.Stats.Received)
			s.counter(famLinkRefused, ll.base, l.Stats.Refused)
			s.gauge(famLinkHeld, ll.base, float64(l.Held))
			continue
		}
		s.counter(famLinkDelivered, ll.base, l.Stats.Delivered)
		s.counter(famLinkRetried, ll.base, l.Stats.Retried)
		s.counter(famLinkDropped, ll.base, l.Stats.Dropped)
		for kind, n := range l.FailedByKind {
			s.counter(famLinkFailed, g.labels.failed(l, kind), n)
		}
		s.gauge(famLinkBacklog, ll.base, float64(l.InFlight)+float64(l.Backlog))
		if l.Outbox == connect.OutboxDisk {
			s.gauge(famLinkOutboxMsgs, ll.base, float64(l.OutboxMessages))
			s.gauge(famLinkOutboxBytes, ll.base, float64(l.OutboxBytes))
		}
		if i, ok := slices.BinarySearchFunc(lat, l.ID, func(h connect.LinkLatency, id int) int { return h.ID - id }); ok {
			s.histogram(famLinkLatency, ll.base, lat[i])
		}
	}
	// A link's failures by kind sort by direction, kind, link, record: not the
	// links' order.
	if mf := s.fams[famLinkFailed]; len(mf.Metric) > 1 {
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int {
			return slices.CompareFunc(a.Label, b.Label, func(x, y *dto.LabelPair) int { return strings.Compare(x.GetValue(), y.GetValue()) })
		})
	}
}

// connectors adds every instance's state and its plugin process's, and returns the
// families of the metrics the instances report themselves.
func (g *gatherer) connectors(s *famSet, cs []connect.ConnectorStatus) []*dto.MetricFamily {
	slices.SortFunc(cs, func(a, b connect.ConnectorStatus) int { return strings.Compare(a.Name, b.Name) })
	type proc struct {
		up       bool
		restarts int
	}
	plugins := map[string]proc{}
	custom := map[string]*dto.MetricFamily{}
	for _, c := range cs {
		lp := []*dto.LabelPair{pair("instance", c.Name), pair("kind", c.Kind)}
		running := c.State != "restarting" && c.State != "crash loop"
		s.gauge(famConnectorUp, lp, boolValue(running))
		s.gauge(famConnectorHealthy, lp, boolValue(c.State == "connected"))
		s.counter(famConnectorRestarts, lp, uint64(c.Restarts))
		if c.Plugin != "" {
			plugins[filepath.Base(c.Plugin)] = proc{up: running, restarts: c.Restarts}
		}
		for _, m := range c.Metrics {
			cf, ok := g.customFamily(c.Name, m)
			if !ok {
				continue
			}
			name := "aimdb_connector_" + m.Name
			mf := custom[name]
			if mf == nil {
				typ := dto.MetricType_GAUGE
				if cf.kind == sdk.MetricCounter {
					typ = dto.MetricType_COUNTER
				}
				mf = &dto.MetricFamily{Name: &name, Help: &cf.help, Type: typ.Enum()}
				custom[name] = mf
			}
			if n := len(mf.Metric); n > 0 && mf.Metric[n-1].Label[0].GetValue() == c.Name {
				g.refuse(c.Name, m, "the instance reported it twice")
				continue
			}
			mt := s.metric(lp)
			if cf.kind == sdk.MetricCounter {
				mt.Counter = s.counterOf(m.Value)
			} else {
				mt.Gauge = s.gaugeOf(m.Value)
			}
			mf.Metric = append(mf.Metric, mt)
		}
	}
	g.mu.Lock()
	for _, c := range cs {
		lp := []*dto.LabelPair{pair("instance", c.Name), pair("kind", c.Kind)}
		s.counter(famConnectorRefused, lp, g.refused[c.Name])
	}
	g.mu.Unlock()
	for _, n := range slices.Sorted(maps.Keys(plugins)) {
		lp := []*dto.LabelPair{pair("plugin", n)}
		s.gauge(famPluginUp, lp, boolValue(plugins[n].up))
		s.counter(famPluginRestarts, lp, uint64(plugins[n].restarts))
	}
	return slices.Collect(maps.Values(custom))
}

// customFamily returns the help and kind of a connector-reported metric, as first
// seen; a name that is not a valid metric name, is reserved, changes kind, or comes
// after maxConnectorMetrics others is refused (refuseLocked).
func (g *gatherer) customFamily(instance string, m sdk.Metric) (customFamily, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cf, ok := g.custom[m.Name]; ok {
		if cf.kind == m.Kind {
			return cf, true
		}
		g.refuseLocked(instance, m, "it was reported before as another kind")
		return customFamily{}, false
	}
	switch {
	case !validMetricName(m.Name):
		g.refuseLocked(instance, m, "a metric name holds only a-z, 0-9 and '_' and does not start with a digit")
		return customFamily{}, false
	case reservedConnectorMetrics[m.Name]:
		g.refuseLocked(instance, m, "the host exports a metric of that name itself")
		return customFamily{}, false
	case m.Kind != sdk.MetricCounter && m.Kind != sdk.MetricGauge:
		g.refuseLocked(instance, m, "its kind is neither counter nor gauge")
		return customFamily{}, false
	case len(g.custom) >= maxConnectorMetrics:
		g.refuseLocked(instance, m, fmt.Sprintf("the connectors reported %d metric names already, the most /metrics takes", maxConnectorMetrics))
		return customFamily{}, false
	}
	cf := customFamily{help: m.Help, kind: m.Kind}
	if cf.help == "" {
		cf.help = "Reported by the connector."
	}
	g.custom[m.Name] = cf
	return cf, true
}

// maxConnectorMetrics bounds the names connectors may report, all instances
// together, and the refused names logged.
const maxConnectorMetrics = 200

// summaryEvery is how often at most the refusals not logged by name are logged.
const summaryEvery = time.Minute

// refuse counts a refused connector metric in aimdb_connector_metrics_refused_total
// and logs it once per name for the first maxConnectorMetrics names refused; the
// refusals of names past those are logged together, at most every summaryEvery.
func (g *gatherer) refuse(instance string, m sdk.Metric, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refuseLocked(instance, m, why)
}

// refuseLocked is refuse with g.mu held.
func (g *gatherer) refuseLocked(instance string, m sdk.Metric, why string) {
	g.refused[instance]++
	if g.warned[m.Name] {
		return
	}
	if len(g.warned) < maxConnectorMetrics {
		g.warned[m.Name] = true
		g.log.Warn("connector metric not exported", "instance", instance, "metric", m.Name, "reason", why)
		return
	}
	g.unlogged++
	if now := time.Now(); now.Sub(g.summary) >= summaryEvery {
		g.log.Warn("more connector metrics not exported, not logged by name", "refusals", g.unlogged,
			"instance", instance, "metric", m.Name, "reason", why, "counted_in", families[famConnectorRefused].name)
		g.unlogged, g.summary = 0, now
	}
}

// linkStates are the values of aimdb_link_state's state label.
var linkStates = []connect.LinkState{connect.StateOK, connect.StateRetrying, connect.StateBlocked, connect.StateFailing}

// latencyBounds picks the exported histogram buckets out of connect's finer ones: the
// upper bound of bucket k is 2^k µs: 256 µs, 1 ms, 4 ms, 16 ms, 66 ms, 262 ms, 1 s, 8.4 s.
var latencyBounds = [...]int{8, 10, 12, 14, 16, 18, 20, 23}

// reservedConnectorMetrics are names a connector may not report: the host's own.
var reservedConnectorMetrics = map[string]bool{"up": true, "healthy": true, "restarts_total": true, "metrics_refused_total": true}

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
