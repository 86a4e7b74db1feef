package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"io"
	"net/http"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// BenchmarkMetricsScrape is one GET /metrics of a hub with 1,000 records and 2,000
// links (a link_to and a link_from per record, through the loopback connector
// in-process): rendered as text (identity), and gzipped as Prometheus asks for it.
// cpu-ms/op is this process's CPU time per scrape (server and client), the figure
// that holds on a busy machine, where ns/op waits for a core.
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
	url := "http://" + srv.Addr() + "/metrics"
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
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
		})
	}
}
