package control

import (
	"context"
	"encoding/json"
	"testing"
)

// BenchmarkSubscriptionEvents measures values carried from the database to a
// subscribed client over the socket (encode, queue, write, read, decode).
func BenchmarkSubscriptionEvents(b *testing.B) {
	mem := newMem(1<<16, RecordInfo{Key: "bench.value", Buffer: "spmc_ring", Capacity: 1024})
	addr, _ := startB(b, mem)
	ctx := context.Background()
	cl, err := Dial(ctx, addr)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	sub, err := cl.Subscribe(ctx, "bench.value")
	if err != nil {
		b.Fatal(err)
	}
	value := json.RawMessage(`{"temp":21.5,"unit":"C","sensor":"hall-3"}`)
	b.ReportAllocs()
	b.ResetTimer()
	var lost uint64
	for i := 0; i < b.N; i++ {
		mem.produce("bench.value", value)
		e, err := sub.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		lost += e.Lag
	}
	if lost > 0 {
		b.Fatalf("%d values lost in a lock-step benchmark", lost)
	}
}

// startB is start for benchmarks.
func startB(b *testing.B, be Backend) (string, *Server) {
	dir := b.TempDir()
	addr := "unix://" + dir + "/b.sock"
	l, err := Listen(addr)
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(be, Options{})
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return addr, srv
}

// BenchmarkWriterUnderWatch measures a writer setting 10,000 JSON records in turn,
// with no subscriber and with a client following all of them ('#') and reading
// every event. Compare the two ns/op: the watched writer should be at most twice as
// slow (docs: `go test -run '^$' -bench WriterUnderWatch ./host/control/`).
func BenchmarkWriterUnderWatch(b *testing.B) {
	for _, watched := range []bool{false, true} {
		name := "no-subscriber"
		if watched {
			name = "wildcard-subscriber"
		}
		b.Run(name, func(b *testing.B) {
			db, keys := manyRecords(b, 10000)
			if watched {
				addr, _ := startB(b, ForDB(db))
				ctx, cancel := context.WithCancel(context.Background())
				cl, err := Dial(ctx, addr)
				if err != nil {
					b.Fatal(err)
				}
				sub, err := cl.Subscribe(ctx, "#")
				if err != nil {
					b.Fatal(err)
				}
				read := make(chan struct{})
				go func() {
					defer close(read)
					for {
						if _, err := sub.Next(ctx); err != nil {
							return
						}
					}
				}()
				b.Cleanup(func() {
					cancel()
					cl.Close()
					<-read
				})
			}
			value := []byte(`{"temp":21.5,"unit":"C","sensor":"hall-3"}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := db.SetJSON(keys[i%len(keys)], value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
