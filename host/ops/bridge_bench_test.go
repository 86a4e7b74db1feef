package ops

import (
	"context"
	"fmt"
	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
)

// BenchmarkMQTTBridgeMetrics is an MQTT bridge on mosquitto (bench/in -> record ->
// bench/out, QoS 1 both legs, through the mqtt plugin) with metrics off (no listener)
// and on (the listener, the aimdb.status record, and a scrape of /metrics every
// second, 15 times Prometheus's default rate), alternating over four rounds in one
// run, each side first in two of them: compare their msgs/s and cpu-ns/msg (this
// process plus the plugin's).
//
//	go test -run '^$' -bench MQTTBridgeMetrics -benchtime 30000x ./host/ops/
func BenchmarkMQTTBridgeMetrics(b *testing.B) {
	mosq := mqtttest.StartMosquitto(b, mqtttest.Options{Quiet: true, Extra: "max_queued_messages 0\nmax_queued_bytes 0\n"})
	for round := 1; round <= 4; round++ {
		order := []bool{false, true}
		if round%2 == 0 {
			order = []bool{true, false} // neither side always runs second
		}
		for _, metrics := range order {
			b.Run(fmt.Sprintf("round=%d/metrics=%v", round, metrics), func(b *testing.B) { benchBridge(b, mosq, metrics) })
		}
	}
}

func benchBridge(b *testing.B, mosq *mqtttest.Mosquitto, metrics bool) {
	src := fmt.Sprintf(`
connector "mqtt" { url = %q }
record "bench.t" {
  capacity = 65536
  link_from "mqtt://bench/in" {
    qos   = 1
    codec = "raw"
  }
  link_to "mqtt://bench/out" {
    qos   = 1
    codec = "raw"
  }
}
`, mosq.URL(false))
	cfg, diags := config.Parse([]byte(src), "bench.hcl")
	if diags.HasErrors() {
		b.Fatal(config.Format(diags))
	}
	hb := host.NewBuilder(host.WithLogger(hclog.NewNullLogger()), connect.WithPlugins(pluginDir))
	cfg.Apply(hb)
	if metrics {
		hb.Apply(WithStatus())
	}
	db, err := hb.Build()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- db.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	<-db.Started()
	if metrics {
		srv, err := Listen(db, Options{Addr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve()
		defer srv.Close()
		stop := make(chan struct{})
		scraped := make(chan struct{})
		go func() {
			defer close(scraped)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				if resp, err := http.Get("http://" + srv.Addr() + "/metrics"); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
		defer func() { close(stop); <-scraped }()
	}
	out := mqtttest.Connect(b, mosq.Addr, mqtttest.ClientOptions{})
	out.Subscribe("bench/out", 1)
	in := mqtttest.Connect(b, mosq.Addr, mqtttest.ClientOptions{}).Paho()
	// Wait until the bridge forwards.
	for ok := false; !ok; {
		in.Publish("bench/in", 1, false, []byte("warm")).Wait()
		select {
		case <-out.Messages():
			ok = true
		case <-time.After(time.Second):
		}
	}
	pid := 0
	if cs := connect.Of(db).Connectors(); len(cs) == 1 {
		pid = cs[0].Pid
	}
	payload := []byte(strings.Repeat("x", 64))
	b.SetBytes(int64(len(payload)))
	cpu0 := cputime.Self() + cputime.Process(pid)
	start := time.Now()
	b.ResetTimer()
	const window = 1000
	var pending []interface{ Wait() bool }
	for i := 0; i < b.N; i++ {
		pending = append(pending, in.Publish("bench/in", 1, false, payload))
		if len(pending) == window {
			for _, t := range pending {
				t.Wait()
			}
			pending = pending[:0]
		}
	}
	for _, t := range pending {
		t.Wait()
	}
	deadline := time.After(2 * time.Minute)
	for got := 0; got < b.N; got++ {
		select {
		case <-out.Messages():
		case <-deadline:
			b.Fatalf("only %d of %d messages came through the bridge", got, b.N)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cputime.Self() + cputime.Process(pid) - cpu0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}
