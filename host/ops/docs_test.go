package ops

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
)

// documentedMetric is one metric of a table in docs/operations.md.
type documentedMetric struct {
	typ       string   // counter, gauge, histogram
	labels    []string // sorted
	direction string   // links: link_to, link_from or both
	line      int
}

var (
	docHeading = regexp.MustCompile("^### (.*?)(?: \\((.*)\\))?$")
	docRow     = regexp.MustCompile("^\\| (`aimdb_[^|]*) \\| ([^|]*) \\|(?: ([^|]*) \\|)? ([^|]*)\\|$")
	backticked = regexp.MustCompile("`([^`]*)`")
	docBuckets = regexp.MustCompile(`buckets ([^|]*[^ |])`)
)

// operationsMetrics reads the metric tables of docs/operations.md, and the latency
// buckets as written there.
func operationsMetrics(t *testing.T) (map[string]documentedMetric, string) {
	t.Helper()
	f, err := os.Open("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]documentedMetric{}
	var section []string // the labels a section's heading names
	var sectionName, buckets string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := docHeading.FindStringSubmatch(line); m != nil {
			sectionName, section = m[1], nil
			for _, l := range backticked.FindAllStringSubmatch(m[2], -1) {
				section = append(section, l[1])
			}
			continue
		}
		m := docRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if b := docBuckets.FindStringSubmatch(line); b != nil {
			buckets = b[1]
		}
		d := documentedMetric{typ: strings.TrimSpace(m[2]), labels: slices.Clone(section), line: n}
		switch {
		case sectionName == "Links":
			d.direction = strings.TrimSpace(m[3])
		case m[3] != "": // Connectors and plugins: a labels column
			for _, l := range backticked.FindAllStringSubmatch(m[3], -1) {
				d.labels = append(d.labels, l[1])
			}
		case sectionName == "Connectors and plugins": // the connector's own, as reported
			d.labels = []string{"instance", "kind"}
		}
		for _, name := range backticked.FindAllStringSubmatch(m[1], -1) {
			name, extra, _ := strings.Cut(strings.TrimSuffix(name[1], "}"), "{")
			if strings.Contains(name, "<") {
				continue // aimdb_connector_<name>: any
			}
			dm := d
			if extra != "" {
				dm.labels = append(slices.Clone(d.labels), extra)
			}
			slices.Sort(dm.labels)
			out[name] = dm
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 30 {
		t.Fatalf("read only %d metrics from docs/operations.md: %v", len(out), out)
	}
	return out, buckets
}

// bucketText writes an upper bound in seconds as docs/operations.md does: 256 µs,
// 4 ms, 1 s, 8.4 s.
func bucketText(s float64) string {
	switch {
	case s < 1e-3:
		return fmt.Sprintf("%.0f µs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1e3)
	}
	return strconv.FormatFloat(math.Round(s*10)/10, 'f', -1, 64) + " s"
}

// TestMetricsDocumented: every metric docs/operations.md lists is on /metrics of a
// hub that has each kind of series, with the type, the labels and the link
// directions written there; aimdb_link_state is 1 for one state of each link;
// aimdb_build_info is 1; the latency buckets are the documented ones; every aimdb_*
// family on /metrics is documented (but for those the test's own connector reports);
// the Go and process collectors are there.
func TestMetricsDocumented(t *testing.T) {
	docs, buckets := operationsMetrics(t)
	rep := &reporter{}
	setReportedMetrics(rep)
	h := metricsHub(t, rep)
	m := scrape(t, h.base)
	for name, d := range docs {
		f := m[name]
		if f == nil {
			t.Errorf("docs/operations.md:%d: %s is not on /metrics", d.line, name)
			continue
		}
		if typ := strings.ToLower(f.GetType().String()); typ != d.typ {
			t.Errorf("docs/operations.md:%d: %s is a %s, documented as %s", d.line, name, typ, d.typ)
		}
		for _, s := range f.Metric {
			var labels []string
			direction := ""
			for _, lp := range s.Label {
				labels = append(labels, lp.GetName())
				if lp.GetName() == "direction" {
					direction = lp.GetValue()
				}
			}
			if !slices.Equal(labels, d.labels) {
				t.Errorf("docs/operations.md:%d: %s has labels %v, documented %v", d.line, name, labels, d.labels)
				break
			}
			if d.direction != "" && d.direction != "both" && direction != d.direction {
				t.Errorf("docs/operations.md:%d: %s has a series of a %s link, documented for %s only", d.line, name, direction, d.direction)
				break
			}
		}
	}
	for name := range m {
		if _, ok := docs[name]; !ok && strings.HasPrefix(name, "aimdb_") && !slices.Contains(repFamilies, name) {
			t.Errorf("%s is on /metrics, not in docs/operations.md", name)
		}
	}

	states := map[string]float64{}
	for _, s := range m["aimdb_link_state"].Metric {
		key := ""
		for _, lp := range s.Label {
			if lp.GetName() != "state" {
				key += lp.GetValue() + " "
			}
		}
		states[key] += s.Gauge.GetValue()
	}
	for link, sum := range states {
		if sum != 1 {
			t.Errorf("aimdb_link_state of %s: states sum to %v, want 1", link, sum)
		}
	}
	if v, _ := m.value("aimdb_build_info", map[string]string{"version": "test"}); v != 1 {
		t.Errorf("aimdb_build_info = %v", v)
	}
	var bounds []string
	for _, b := range m["aimdb_link_publish_latency_seconds"].Metric[0].Histogram.Bucket {
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, bucketText(b.GetUpperBound()))
		}
	}
	if got := strings.Join(bounds, ", "); got != buckets {
		t.Errorf("latency buckets %s, documented %s", got, buckets)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"} {
		if m[name] == nil {
			t.Errorf("%s is not on /metrics", name)
		}
	}
}

// repFamilies are the families of the metrics setReportedMetrics has the test's
// connector report.
var repFamilies = []string{"aimdb_connector_sessions", "aimdb_connector_frames_total", "aimdb_connector_mixed", "aimdb_connector_no_help"}

// TestMetricsEncodings: /metrics is gzipped or zstd-compressed when the client
// accepts it, and decompresses to the same families as the plain text.
func TestMetricsEncodings(t *testing.T) {
	h := startHub(t, "record \"a\" {\n  writable = true\n}\n", Options{Version: "test"})
	families := func(r io.Reader) []string {
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(r)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for name := range fams {
			if strings.HasPrefix(name, "aimdb_") {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names
	}
	fetch := func(enc string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, h.base+"/metrics", nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", enc, resp.StatusCode, err)
		}
		return resp, body
	}
	resp, plain := fetch("identity")
	want := families(bytes.NewReader(plain))
	if resp.Header.Get("Content-Encoding") != "" || len(want) < 4 {
		t.Fatalf("identity: %q, families %v", resp.Header.Get("Content-Encoding"), want)
	}
	resp, body := fetch("gzip")
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %q %v", resp.Header.Get("Content-Encoding"), err)
	}
	if got := families(zr); !slices.Equal(got, want) {
		t.Errorf("gzip: %v, want %v", got, want)
	}
	resp, body = fetch("zstd")
	zd, err := zstd.NewReader(bytes.NewReader(body))
	if err != nil || resp.Header.Get("Content-Encoding") != "zstd" {
		t.Fatalf("zstd: %q %v", resp.Header.Get("Content-Encoding"), err)
	}
	defer zd.Close()
	if got := families(zd); !slices.Equal(got, want) {
		t.Errorf("zstd: %v, want %v", got, want)
	}
	t.Logf("%d bytes plain, %d zstd", len(plain), len(body))
}

// TestMetricsSlowReaderCutOff: a /metrics client that stops reading is cut off once
// a write has waited scrapeTimeout: the server stops writing, with one log line, and
// the client gets a cut answer.
func TestMetricsSlowReaderCutOff(t *testing.T) {
	var src strings.Builder
	src.WriteString("connector \"lb\" {\n  plugin = \"loopback\"\n  inject = \"none\"\n}\n")
	for i := range 3000 { // about 6 MB of text: more than the sockets hold
		fmt.Fprintf(&src, "record \"r%d\" {\n  link_to \"lb://out/%d\" {}\n}\n", i, i)
	}
	h := startHub(t, src.String(), Options{}, connect.WithConnector(loopback.NewBuilder()))
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: hub\r\nAccept-Encoding: identity\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, scrapeTimeout+10*time.Second, "the server giving up on the client", func() bool {
		return strings.Contains(h.log.String(), "i/o timeout")
	})
	if d := time.Since(start); d < scrapeTimeout {
		t.Errorf("cut off after %v, before the %v the client has", d, scrapeTimeout)
	}
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if bytes.HasSuffix(got, []byte("0\r\n\r\n")) {
		t.Errorf("the whole answer arrived (%d bytes): nothing was cut off", len(got))
	}
	if n := strings.Count(h.log.String(), "i/o timeout"); n != 1 {
		t.Errorf("%d log lines about the cut-off, want 1", n)
	}
	t.Logf("cut off after %v; the client read %d bytes", time.Since(start).Round(time.Second), len(got))
}
