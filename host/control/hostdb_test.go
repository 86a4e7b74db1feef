package control

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/host"
)

// startDB builds and runs a real database with JSON records and serves it.
func startDB(t *testing.T, opts Options) (*host.DB, string) {
	t.Helper()
	b := host.NewBuilder()
	host.Configure[json.RawMessage](b, "ring", func(r *host.Registrar[json.RawMessage]) { r.SPMCRing(4).Writable() })
	host.Configure[json.RawMessage](b, "latest", func(r *host.Registrar[json.RawMessage]) { r.SingleLatest().Writable() })
	host.Configure[json.RawMessage](b, "cmd", func(r *host.Registrar[json.RawMessage]) { r.Mailbox().Writable() })
	host.Configure[json.RawMessage](b, "fed", func(r *host.Registrar[json.RawMessage]) {
		r.SingleLatest().Writable().LinkFrom("mqtt://in/fed")
	})
	host.Configure[int](b, "typed", func(r *host.Registrar[int]) { r.SingleLatest().Writable() })
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- db.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addr, _ := start(t, ForDB(db), opts)
	return db, addr
}

func TestHostDBBackend(t *testing.T) {
	_, addr := startDB(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	h, err := cl.Hello(ctx)
	if err != nil || strings.Join(h.Writable, ",") != "ring,latest,cmd,typed" {
		t.Errorf("hello writable = %v, %v (fed has a link_from writer and must not be listed)", h.Writable, err)
	}
	err = cl.Set(ctx, "fed", json.RawMessage(`1`))
	if !isRemote(err, CodeDenied) || !strings.Contains(err.Error(), "link_from mqtt://in/fed") {
		t.Errorf("set on a record with a link_from writer: %v", err)
	}
	if err := cl.Set(ctx, "typed", json.RawMessage(`"x"`)); !isRemote(err, CodeBadRequest) {
		t.Errorf("set a string into an int record: %v", err)
	}
	if _, err := cl.Get(ctx, "latest"); !isRemote(err, CodeNotFound) {
		t.Errorf("get before a value: %v", err)
	}
	if _, err := cl.Subscribe(ctx, "cmd"); !isRemote(err, CodeDenied) {
		t.Errorf("watching a mailbox: %v", err)
	}
	if err := cl.Set(ctx, "latest", json.RawMessage(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	sub, err := cl.Subscribe(ctx, "#")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sub.Topics, ",") != "ring,latest,fed,typed,aimdb.dead_letters" {
		t.Errorf("# matched %v", sub.Topics)
	}
	e, err := sub.Next(ctx)
	if err != nil || !e.Snapshot || e.Topic != "latest" || string(e.Data) != `{"a":1}` {
		t.Fatalf("first event %+v, %v", e, err)
	}
	if err := cl.Set(ctx, "typed", json.RawMessage(`7`)); err != nil {
		t.Fatal(err)
	}
	e, err = sub.Next(ctx)
	if err != nil || e.Snapshot || e.Topic != "typed" || string(e.Data) != "7" {
		t.Fatalf("event after set %+v, %v (the snapshot must not repeat)", e, err)
	}
	recs, err := cl.Records(ctx)
	if err != nil || len(recs) != 6 || recs[5].Key != "aimdb.dead_letters" || recs[3].Writer != "link_from mqtt://in/fed" || recs[3].Links[0].Direction != "link_from" {
		t.Errorf("records = %+v, %v", recs, err)
	}
	if recs[0].Counters["produced"] != 0 || recs[4].Counters["produced"] != 1 {
		t.Errorf("counters ring %v typed %v", recs[0].Counters, recs[4].Counters)
	}
	g, err := cl.Graph(ctx)
	if err != nil || len(g.TopoOrder) != 6 || len(g.Edges) != 1 {
		t.Errorf("graph = %+v, %v", g, err)
	}
}

// TestHostDBLag writes far more values than the ring and the connection queue hold to
// a subscriber that does not read; the database must never wait, and the subscriber
// learns how many values it lost.
func TestHostDBLag(t *testing.T) {
	db, addr := startDB(t, Options{QueueLen: 2})
	c := dialRaw(t, addr)
	c.send(`{"t":"sub","id":1,"topic":"ring"}`)
	if f := c.read(); f.T != TagSubscribed {
		t.Fatalf("got %+v", f)
	}
	const n = 2000
	big := strings.Repeat("x", 4096)
	for i := 1; i <= n; i++ {
		if err := db.SetJSON("ring", []byte(`{"i":`+strconv.Itoa(i)+`,"pad":"`+big+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	value := func(f Frame) int {
		var v struct{ I int }
		if err := json.Unmarshal(f.Data, &v); err != nil {
			t.Fatal(err)
		}
		return v.I
	}
	var got uint64
	last := 0
	lag := c.drainEvents(
		func() {
			if err := db.SetJSON("ring", []byte(`{"i":-1}`)); err != nil {
				t.Fatal(err)
			}
		},
		func(f Frame) bool { return value(f) == -1 },
		func(f Frame) {
			if v := value(f); v <= last {
				t.Fatalf("value %d after %d", v, last)
			} else {
				last = v
			}
			got++
		})
	if lag == 0 || got+lag != n {
		t.Errorf("got %d values and a lag of %d for %d written", got, lag, n)
	}
}
