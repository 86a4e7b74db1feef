package host

import (
	"context"
	"testing"
)

// BenchmarkRecordProduceConsume is the record API's hot path (Producer.Produce plus
// Consumer.Recv on one goroutine) for each buffer, to show what the typed handles add
// on top of host/buffer's BenchmarkPushRecv.
//
//	go test -run '^$' -bench RecordProduceConsume ./host/
func BenchmarkRecordProduceConsume(b *testing.B) {
	for _, tc := range []struct {
		name string
		set  func(r *Registrar[Temperature])
	}{
		{"spmc_ring", func(r *Registrar[Temperature]) { r.SPMCRing(1024) }},
		{"single_latest", func(r *Registrar[Temperature]) { r.SingleLatest() }},
		{"mailbox", func(r *Registrar[Temperature]) { r.Mailbox() }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hb := NewBuilder()
			Configure(hb, "t", tc.set)
			db, err := hb.Build()
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			p, _ := ProducerOf[Temperature](db, "t")
			c, _ := ConsumerOf[Temperature](db, "t")
			defer c.Close()
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = p.Produce(Temperature{Celsius: float64(i)})
				if _, err := c.Recv(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLinkJSON is one value through an outbound link (JSON encode) and one payload
// through an inbound link (JSON decode and produce): the per-message cost the
// connector layer sees before its own transport.
func BenchmarkLinkJSON(b *testing.B) {
	hb := NewBuilder()
	Configure[Temperature](hb, "out", func(r *Registrar[Temperature]) { r.LinkTo("mqtt://out") })
	Configure[Temperature](hb, "in", func(r *Registrar[Temperature]) { r.SingleLatest().LinkFrom("mqtt://in") })
	db, err := hb.Build()
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	p, _ := ProducerOf[Temperature](db, "out")
	r, _ := db.OpenLinkReader(0)
	defer r.Close()
	payload := []byte(`{"celsius":21.5}`)
	ctx := context.Background()
	b.Run("outbound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Produce(Temperature{Celsius: 21.5})
			if _, err := r.Next(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("inbound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := db.DeliverLink(1, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
