package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// BenchmarkMetricsScrape is one GET /metrics of a hub with 1,000 records and 2,000
// links (a link_to and a link_from per record, through the loopback connector
// in-process), rendered as text (identity) and gzipped as Prometheus asks for it:
//
//   - hub: the real listener, the families built from the hub's state per scrape;
//   - prebuilt: the same handler and client serving those families built once (the
//     baseline of everything but reading the hub and building the families);
//   - render: the families built from the hub's state and written to memory by
//     expfmt, no HTTP;
//   - encode: expfmt writing the prebuilt families to memory, no HTTP (the floor).
//
// cpu-ms/op is this process's CPU time per op (server and client), the figure that
// holds on a busy machine, where ns/op waits for a core.
func BenchmarkMetricsScrape(b *testing.B) {
	const records = 1000
	hb := host.NewBuilder(host.WithLogger(hclog.NewNullLogger()), connect.WithConnector(loopback.NewBuilder()),
		connect.WithInstance(connect.Instance{Name: "lb", Plugin: "loopback", Options: sdk.Config{"inject": "none"}}))
	for i := range records {
		host.Configure(hb, fmt.Sprintf("plant.line%d.temp", i), func(r *host.Registrar[json.RawMessage]) {
			r.SPMCRing(16).Writable()
			r.LinkTo(fmt.Sprintf("lb://out/line%d/temp", i))
		})
		host.Configure(hb, fmt.Sprintf("plant.line%d.cmd", i), func(r *host.Registrar[json.RawMessage]) {
			r.SingleLatest()
			r.LinkFrom(fmt.Sprintf("lb://in/line%d/cmd", i))
		})
	}
	hb.Apply(WithStatus())
	db, err := hb.Build()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- db.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	<-db.Started()
	srv, err := Listen(db, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close()
	for i := range records {
		if err := db.SetJSON(fmt.Sprintf("plant.line%d.temp", i), json.RawMessage(`21.5`)); err != nil {
			b.Fatal(err)
		}
	}

	prebuilt, _, err := newGatherer(db, "", hclog.NewNullLogger()).Gather() // never handed back
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	static := &http.Server{Handler: metricsHandler(prometheus.ToTransactionalGatherer(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return prebuilt, nil
	})), hclog.NewNullLogger())}
	go static.Serve(ln)
	defer static.Close()

	g := newGatherer(db, "", hclog.NewNullLogger())
	fromHub := func() ([]*dto.MetricFamily, func()) {
		mfs, done, err := g.Gather()
		if err != nil {
			b.Fatal(err)
		}
		return mfs, done
	}
	fromPrebuilt := func() ([]*dto.MetricFamily, func()) { return prebuilt, func() {} }
	for _, enc := range []string{"identity", "gzip"} {
		b.Run("hub/"+enc, func(b *testing.B) { benchGet(b, "http://"+srv.Addr()+"/metrics", enc) })
		b.Run("prebuilt/"+enc, func(b *testing.B) { benchGet(b, "http://"+ln.Addr().String()+"/metrics", enc) })
		b.Run("render/"+enc, func(b *testing.B) { benchEncode(b, fromHub, enc == "gzip") })
		b.Run("encode/"+enc, func(b *testing.B) { benchEncode(b, fromPrebuilt, enc == "gzip") })
	}
}

// benchGet GETs url once per op with Accept-Encoding enc.
func benchGet(b *testing.B, url, enc string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", enc)
	size := 0
	cpu0 := cputime.Self()
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
		}
		size = int(n)
	}
	b.ReportMetric(float64(size), "bytes")
	b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}

// benchEncode writes the families families returns in the text format into memory
// once per op, gzipped as /metrics does when zip, and then calls the done it returned.
func benchEncode(b *testing.B, families func() ([]*dto.MetricFamily, func()), zip bool) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, scrapeGzipLevel)
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cputime.Self()
	for b.Loop() {
		buf.Reset()
		var w io.Writer = &buf
		if zip {
			gz.Reset(&buf)
			w = gz
		}
		enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
		mfs, done := families()
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
		done()
		if zip {
			if err := gz.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
	b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}
