package connect

import (
	"context"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// BenchmarkHostWithPluginReady is a host with one plugin from host.NewBuilder to the first
// value that went record -> plugin -> record: plugin start, handshake, describe,
// validate, instance build and one round trip.
func BenchmarkHostWithPluginReady(b *testing.B) {
	dir := pluginsDir
	for i := 0; i < b.N; i++ {
		hb := host.NewBuilder(WithPlugins(dir))
		host.Configure(hb, "out", func(r *host.Registrar[Temperature]) { r.LinkTo("loopback://ready") })
		host.Configure(hb, "in", func(r *host.Registrar[Temperature]) { r.LinkFrom("loopback://ready") })
		db, err := hb.Build()
		if err != nil {
			b.Fatal(err)
		}
		in, _ := host.ConsumerOf[Temperature](db, "in")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- db.Run(ctx) }()
		prod, _ := host.ProducerOf[Temperature](db, "out")
		prod.Produce(Temperature{Celsius: 1})
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = in.Recv(rctx)
		rcancel()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		in.Close()
		cancel()
		<-done
		b.StartTimer()
	}
}

// BenchmarkLinkRoundTrip moves values record -> link pump -> plugin -> inbound ->
// record through the real plugin boundary, end to end.
func BenchmarkLinkRoundTrip(b *testing.B) {
	hb := host.NewBuilder(WithPlugins(pluginsDir),
		WithInstance(Instance{Name: "lb", Plugin: "loopback", Options: sdk.Config{"inject": "async"}}))
	host.Configure(hb, "out", func(r *host.Registrar[[]byte]) { r.SPMCRing(1 << 16); r.LinkTo("lb://rt").WithCodec("raw") })
	host.Configure(hb, "in", func(r *host.Registrar[[]byte]) { r.SPMCRing(1 << 16); r.LinkFrom("lb://rt").WithCodec("raw") })
	db, err := hb.Build()
	if err != nil {
		b.Fatal(err)
	}
	in, _ := host.ConsumerOf[[]byte](db, "in")
	defer in.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Run(ctx) }()
	defer func() { cancel(); <-done }()
	prod, _ := host.ProducerOf[[]byte](db, "out")
	payload := make([]byte, 64)
	b.SetBytes(64)
	b.ResetTimer()
	start := time.Now()
	got := 0
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rcancel()
	for sent := 0; got < b.N; {
		// Keep at most half a ring in flight so nothing is overwritten.
		for sent < b.N && sent-got < 1<<15 {
			prod.Produce(payload)
			sent++
		}
		if _, err := in.Recv(rctx); err != nil {
			b.Fatalf("after %d of %d: %v", got, b.N, err)
		}
		got++
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}
