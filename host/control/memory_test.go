package control

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/host"
)

// manyRecords builds and runs a database of n JSON records, alternately rings of 16
// and single_latest, each holding a value, and returns it with the keys.
func manyRecords(tb testing.TB, n int) (*host.DB, []string) {
	tb.Helper()
	b := host.NewBuilder()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("r.%05d", i)
		host.Configure(b, keys[i], func(r *host.Registrar[json.RawMessage]) {
			if i%2 == 0 {
				r.SPMCRing(16)
			} else {
				r.SingleLatest()
			}
			r.Writable()
		})
	}
	db, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- db.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	for _, k := range keys {
		if err := db.SetJSON(k, []byte(`{"v":0}`)); err != nil {
			tb.Fatal(err)
		}
	}
	return db, keys
}

// inUse returns the bytes of heap and goroutine stacks in use after a full collection.
func inUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// TestSubscriptionMemoryBound follows 10,000 records with one wildcard subscription
// and writes each three times: client and server together stay under 20 MiB, and no
// goroutine is started per record.
func TestSubscriptionMemoryBound(t *testing.T) {
	const n = 10000
	db, keys := manyRecords(t, n)
	addr, _ := start(t, ForDB(db), Options{})
	before, goroutines := inUse(), runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sub, err := cl.Subscribe(ctx, "#")
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Topics) != n+1 { // and the built-in dead-letter record, empty
		t.Fatalf("# matched %d records, want %d", len(sub.Topics), n+1)
	}
	snaps := 0
	for snaps < n {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d snapshots: %v", snaps, err)
		}
		if !e.Snapshot {
			t.Fatalf("event %+v before the %d snapshots ended", e, n)
		}
		snaps++
	}
	const rounds = 3
	got := make(chan int)
	go func() {
		events := 0
		for events < rounds*n {
			e, err := sub.Next(ctx)
			if err != nil {
				break
			}
			events += 1 + int(e.Lag)
		}
		got <- events
	}()
	for r := 1; r <= rounds; r++ {
		for _, k := range keys {
			if err := db.SetJSON(k, []byte(fmt.Sprintf(`{"v":%d}`, r))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// single_latest records may fold values a slow reader missed, so not every value
	// arrives; wait until the last one has.
	last := keys[len(keys)-1]
	for {
		v, err := db.GetJSON(last)
		if err != nil {
			t.Fatal(err)
		}
		if string(v) == fmt.Sprintf(`{"v":%d}`, rounds) {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	used := int64(inUse()) - int64(before)
	extra := runtime.NumGoroutine() - goroutines
	t.Logf("one subscription over %d records: %.1f MiB in use (client and server), %d more goroutines", n, float64(used)/(1<<20), extra)
	if used > 20<<20 {
		t.Errorf("%.1f MiB in use, want under 20 MiB", float64(used)/(1<<20))
	}
	if extra > 10 {
		t.Errorf("%d more goroutines for one subscription, want a handful", extra)
	}
	cl.Close()
	<-got
}

// TestWatchLimit: a connection follows at most MaxWatched records over all its
// subscriptions.
func TestWatchLimit(t *testing.T) {
	addr, _ := start(t, newMem(8, testRecords...), Options{MaxWatched: 3})
	c := dialRaw(t, addr)
	c.send(`{"t":"sub","id":1,"topic":"#"}`)
	c.expectErr(CodeLimit, `"#" matches 5 records; with the 0 this connection follows already that is over the limit of 3`)
	c.send(`{"t":"sub","id":2,"topic":"sensors.*"}`)
	if f := c.read(); f.T != TagSubscribed {
		t.Fatalf("got %+v", f)
	}
	c.send(`{"t":"sub","id":3,"topic":"sensors.room.*"}`)
	if f := c.read(); f.T != TagSubscribed {
		t.Fatalf("got %+v", f)
	}
	c.send(`{"t":"sub","id":4,"topic":"state.mode"}`)
	c.expectErr(CodeLimit, "with the 3 this connection follows already")
	c.send(`{"t":"unsub","id":5,"sub":3}`)
	c.read()
	c.send(`{"t":"sub","id":4,"topic":"state.mode"}`)
	if f := c.read(); f.T != TagSubscribed {
		t.Fatalf("after unsub got %+v", f)
	}
}
