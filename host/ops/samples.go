package ops

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aimdb-dev/aimdb-go/host/connect"
)

// sample is one series' value at scrape time, with label pairs from the labelCache.
// It is what prometheus.MustNewConstMetric makes, without building and sorting the
// labels again for each of the tens of thousands of series of a large hub.
type sample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
	kind   dto.MetricType
	hist   *dto.Histogram
}

// Desc returns the series' description.
func (s *sample) Desc() *prometheus.Desc { return s.desc }

// Write fills m; the label pairs are shared and never changed.
func (s *sample) Write(m *dto.Metric) error {
	m.Label = s.labels
	v := s.value
	switch s.kind {
	case dto.MetricType_COUNTER:
		m.Counter = &dto.Counter{Value: &v}
	case dto.MetricType_GAUGE:
		m.Gauge = &dto.Gauge{Value: &v}
	case dto.MetricType_HISTOGRAM:
		m.Histogram = s.hist
	}
	return nil
}

// samples hands out samples from blocks allocated together and sends them.
type samples struct {
	ch    chan<- prometheus.Metric
	block []sample
	size  int
}

func newSamples(ch chan<- prometheus.Metric, size int) *samples {
	return &samples{ch: ch, size: max(size, 16)}
}

func (o *samples) send(s sample) {
	if len(o.block) == cap(o.block) {
		o.block = make([]sample, 0, o.size)
	}
	o.block = append(o.block, s)
	o.ch <- &o.block[len(o.block)-1]
}

func (o *samples) counter(d *prometheus.Desc, lp []*dto.LabelPair, v uint64) {
	o.send(sample{desc: d, labels: lp, value: float64(v), kind: dto.MetricType_COUNTER})
}

func (o *samples) gauge(d *prometheus.Desc, lp []*dto.LabelPair, v float64) {
	o.send(sample{desc: d, labels: lp, value: v, kind: dto.MetricType_GAUGE})
}

// histogram sends connect's latency histogram in the exported buckets (latencyBounds).
func (o *samples) histogram(d *prometheus.Desc, lp []*dto.LabelPair, h connect.LinkLatency) {
	var cum, total uint64
	for _, n := range h.Counts {
		total += n
	}
	sum := h.Sum.Seconds()
	buckets := make([]*dto.Bucket, len(latencyBounds))
	counts := make([]uint64, len(latencyBounds))
	bounds := make([]float64, len(latencyBounds))
	k := 0
	for i, b := range latencyBounds {
		for ; k <= b; k++ {
			cum += h.Counts[k]
		}
		counts[i], bounds[i] = cum, float64(uint64(1)<<b)*1e-6
		buckets[i] = &dto.Bucket{CumulativeCount: &counts[i], UpperBound: &bounds[i]}
	}
	o.send(sample{desc: d, labels: lp, kind: dto.MetricType_HISTOGRAM,
		hist: &dto.Histogram{SampleCount: &total, SampleSum: &sum, Bucket: buckets}})
}
