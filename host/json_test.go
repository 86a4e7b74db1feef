package host

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestJSONAccess(t *testing.T) {
	b := NewBuilder()
	Configure[Temperature](b, "setpoint", func(r *Registrar[Temperature]) { r.Writable().SingleLatest() })
	Configure[Temperature](b, "sourced", func(r *Registrar[Temperature]) {
		r.Writable().Source(func(ctx context.Context, p *Producer[Temperature]) error { <-ctx.Done(); return nil })
	})
	Configure[json.RawMessage](b, "dynamic", func(r *Registrar[json.RawMessage]) { r.Writable().Mailbox() })
	db, _ := startDB(t, b)

	if _, err := db.GetJSON("setpoint"); !errors.Is(err, ErrNoValue) {
		t.Fatalf("GetJSON before any value: %v", err)
	}
	w, err := db.WatchJSON("setpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := db.SetJSON("setpoint", []byte(`{"celsius":19}`)); err != nil {
		t.Fatalf("SetJSON: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := w.Next(ctx); err != nil || string(got) != `{"celsius":19}` {
		t.Fatalf("WatchJSON: %s %v", got, err)
	}
	if got, err := db.GetJSON("setpoint"); err != nil || string(got) != `{"celsius":19}` {
		t.Fatalf("GetJSON: %s %v", got, err)
	}
	if err := db.SetJSON("setpoint", []byte(`{"celsius":"warm"}`)); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("SetJSON with a bad value: %v", err)
	}
	if err := db.SetJSON("sourced", []byte(`{"celsius":1}`)); !errors.Is(err, ErrDenied) {
		t.Fatalf("SetJSON on a record with a source: %v", err)
	}
	if err := db.SetJSON("nope", []byte(`1`)); !errors.Is(err, ErrUnknownRecord) {
		t.Fatalf("SetJSON unknown: %v", err)
	}
	if _, err := db.WatchJSON("nope"); !errors.Is(err, ErrUnknownRecord) {
		t.Fatalf("WatchJSON unknown: %v", err)
	}

	// Raw JSON records keep the document as written; the mailbox is still readable by get.
	if err := db.SetJSON("dynamic", []byte(`{"b": [1, 2]}`)); err != nil {
		t.Fatal(err)
	}
	c, _ := ConsumerOf[json.RawMessage](db, "dynamic")
	defer c.Close()
	if got := recv(t, c); string(got) != `{"b": [1, 2]}` {
		t.Fatalf("raw record value: %s", got)
	}
	if got, err := db.GetJSON("dynamic"); err != nil || string(got) != `{"b": [1, 2]}` {
		t.Fatalf("GetJSON on a consumed mailbox: %s %v", got, err)
	}
}

// TestJSONWatcherNotify follows a record without a waiting goroutine: Notify arms a
// call, TryNext drains.
func TestJSONWatcherNotify(t *testing.T) {
	b := NewBuilder()
	Configure[Temperature](b, "t", func(r *Registrar[Temperature]) { r.Writable().SPMCRing(4) })
	db, _ := startDB(t, b)
	w, err := db.WatchJSON("t")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.TryNext(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("TryNext before any value: %v, want ErrEmpty", err)
	}
	woken := make(chan struct{}, 1)
	if !w.Notify(func() { woken <- struct{}{} }) {
		t.Fatal("Notify on an empty record reported a value")
	}
	if err := db.SetJSON("t", []byte(`{"celsius":3}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify's function was not called after SetJSON")
	}
	if got, err := w.TryNext(); err != nil || string(got) != `{"celsius":3}` {
		t.Fatalf("TryNext after the call: %s, %v", got, err)
	}
}

// TestOnRead: the hook runs before every GetJSON and WatchJSON of its record, on the
// caller's goroutine, so a value it produces there is what the reader gets.
func TestOnRead(t *testing.T) {
	b := NewBuilder()
	var db *DB
	n := 0
	Configure[json.RawMessage](b, "lazy", func(r *Registrar[json.RawMessage]) {
		r.SingleLatest().OnRead(func() {
			n++
			p, err := ProducerOf[json.RawMessage](db, "lazy")
			if err != nil {
				t.Error(err)
				return
			}
			if err := p.Produce(json.RawMessage(strconv.Itoa(n))); err != nil {
				t.Error(err)
			}
		})
	})
	Configure[json.RawMessage](b, "plain", func(r *Registrar[json.RawMessage]) { r.SingleLatest() })
	db, _ = startDB(t, b)
	if n != 0 {
		t.Fatalf("hook ran %d times before any read", n)
	}
	for want := 1; want <= 2; want++ {
		if got, err := db.GetJSON("lazy"); err != nil || string(got) != strconv.Itoa(want) {
			t.Fatalf("GetJSON %d: %s %v", want, got, err)
		}
	}
	w, err := db.WatchJSON("lazy")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := w.Next(ctx); err != nil || string(got) != "3" {
		t.Fatalf("WatchJSON: %s %v", got, err)
	}
	if _, err := db.GetJSON("plain"); !errors.Is(err, ErrNoValue) || n != 3 {
		t.Fatalf("another record's read: %v, hook ran %d times", err, n)
	}
}

// TestRecordStats: RecordStats has every record's key and counters, as Records.
func TestRecordStats(t *testing.T) {
	b := NewBuilder()
	Configure[json.RawMessage](b, "a", func(r *Registrar[json.RawMessage]) { r.Writable().SPMCRing(4) })
	Configure[json.RawMessage](b, "b", func(r *Registrar[json.RawMessage]) { r.Writable().SingleLatest() })
	db, _ := startDB(t, b)
	for range 6 {
		if err := db.SetJSON("a", []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := db.WatchJSON("b")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	infos, stats := db.Records(), db.RecordStats()
	if len(stats) != len(infos) {
		t.Fatalf("%d stats for %d records", len(stats), len(infos))
	}
	for i, s := range stats {
		if s.Key != infos[i].Key || s.Stats != infos[i].Stats {
			t.Errorf("RecordStats[%d] = %+v, Records has %s %+v", i, s, infos[i].Key, infos[i].Stats)
		}
	}
	if stats[0].Stats.Produced != 6 || stats[1].Stats.Consumers != 1 {
		t.Errorf("stats %+v", stats)
	}
}
