package connect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/internal/syncbuf"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// outage is a switch file the loopback connector's down_while option watches.
type outage string

func newOutage(t *testing.T) outage { return outage(filepath.Join(t.TempDir(), "down")) }

func (o outage) start(t *testing.T) {
	if err := os.WriteFile(string(o), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (o outage) end(t *testing.T) {
	if err := os.Remove(string(o)); err != nil {
		t.Fatal(err)
	}
}

// lbInstance is a loopback instance that injects synchronously (a publish succeeds
// only once the host took the echoed value) with fast retries.
func lbInstance(o outage, extra sdk.Config) Instance {
	opts := sdk.Config{"inject": "sync", "retry_min": "5ms", "retry_max": "50ms"}
	if o != "" {
		opts["down_while"] = string(o)
	}
	for k, v := range extra {
		opts[k] = v
	}
	return Instance{Name: "lb", Plugin: "loopback", Options: opts}
}

// produceAll produces 1..n with ProduceWait in the background.
func produceAll(t *testing.T, ctx context.Context, p *host.Producer[int], n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			if err := p.ProduceWait(ctx, i); err != nil {
				t.Errorf("produce %d: %v", i, err)
				return
			}
		}
	}()
	return done
}

// A link whose destination is down retries its oldest value with backoff and sends
// everything after it in order once the destination is back: nothing is lost,
// nothing overtakes.
func TestRetryInOrderAcrossOutage(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		o := newOutage(t)
		b := host.NewBuilder(kind, WithInstance(lbInstance(o, nil)))
		host.Configure(b, "src", func(r *host.Registrar[int]) { r.SPMCRing(32); r.LinkTo("lb://k") })
		host.Configure(b, "dst", func(r *host.Registrar[int]) { r.SPMCRing(4096); r.LinkFrom("lb://k") })
		db, stop := startDB(t, b)
		dst, _ := host.ConsumerOf[int](db, "dst")
		defer dst.Close()
		prod, _ := host.ProducerOf[int](db, "src")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		o.start(t)
		const n = 500
		produced := produceAll(t, ctx, prod, n)
		eventually(t, 5*time.Second, "the link to retry", func() bool {
			l := linkStatus(t, db, "src", "lb://k")
			return l.LastError != nil && (l.State == StateRetrying || l.State == StateBlocked)
		})
		l := linkStatus(t, db, "src", "lb://k")
		if l.LastError == nil || l.LastError.Kind != "connection failed" || l.Stats.Delivered != 0 {
			t.Fatalf("during the outage: %+v", l)
		}
		o.end(t)
		got := receiveSeq(t, ctx, dst, n)
		<-produced
		t.Logf("outage: %s", got)
		if got.lost != 0 || got.outOfOrder != 0 || got.duplicated != 0 {
			t.Fatalf("want every value once, in order: %s", got)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		st, _ := db.LinkStats(0)
		if st.Delivered != n || st.Failed == 0 || st.DeadLettered != 0 {
			t.Fatalf("link counters %+v", st)
		}
	})
}

// An at-least-once link a whole ring behind makes its record refuse new values
// (buffer full) instead of overwriting undelivered ones; a best-effort link never
// holds producers up, and what it could not keep up with is counted as dropped.
func TestBackPressureOrDropped(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		o := newOutage(t)
		b := host.NewBuilder(kind, WithInstance(lbInstance(o, sdk.Config{"inject": "none"})))
		host.Configure(b, "held", func(r *host.Registrar[int]) { r.SPMCRing(8); r.LinkTo("lb://held") })
		host.Configure(b, "loose", func(r *host.Registrar[int]) {
			r.SPMCRing(8)
			r.LinkTo("lb://loose").WithOption("delivery", "best_effort")
		})
		db, stop := startDB(t, b)
		held, _ := host.ProducerOf[int](db, "held")
		loose, _ := host.ProducerOf[int](db, "loose")
		o.start(t)
		// The held link reads values into its window as they come, so the ring fills
		// only once the window does; a small window would hide nothing.
		refusedAt := 0
		for i := 1; i <= maxUnconfirmedValues+100; i++ {
			if err := held.Produce(i); errors.Is(err, host.ErrBufferFull) {
				refusedAt = i
				break
			} else if err != nil {
				t.Fatal(err)
			}
			time.Sleep(0) // let the pump read
		}
		if refusedAt == 0 {
			t.Fatal("a full at-least-once ring never refused a value")
		}
		eventually(t, 5*time.Second, "the held link to show blocked", func() bool {
			return linkStatus(t, db, "held", "lb://held").State == StateBlocked
		})
		const n = maxUnconfirmedValues + 5000
		for i := 1; i <= n; i++ {
			if err := loose.Produce(i); err != nil {
				t.Fatalf("a best-effort link refused value %d: %v", i, err)
			}
		}
		o.end(t)
		eventually(t, 20*time.Second, "both links to deliver what they hold", func() bool {
			h := linkStatus(t, db, "held", "lb://held")
			l := linkStatus(t, db, "loose", "lb://loose")
			return h.Stats.Delivered == uint64(refusedAt-1) && l.InFlight == 0 && l.Backlog == 0
		})
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		h, _ := db.LinkStats(0)
		l, _ := db.LinkStats(1)
		t.Logf("held: refused at %d, %+v; loose: produced %d, %+v", refusedAt, h, n, l)
		if h.Dropped != 0 {
			t.Fatalf("the at-least-once link dropped %d values", h.Dropped)
		}
		if l.Delivered+l.Dropped != n || l.Dropped == 0 {
			t.Fatalf("best effort: delivered %d + dropped %d != produced %d (or nothing dropped)", l.Delivered, l.Dropped, n)
		}
	})
}

// Values that fail for good are dead-lettered with their error, the link goes on,
// and the link reports failing.
func TestPermanentFailuresAreDeadLettered(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		b := host.NewBuilder(kind, WithInstance(lbInstance("", sdk.Config{"inject": "none", "fail_destination": "bad"})))
		host.Configure(b, "a", func(r *host.Registrar[int]) { r.LinkTo("lb://bad") })
		host.Configure(b, "b", func(r *host.Registrar[int]) { r.LinkTo("lb://good") })
		db, stop := startDB(t, b)
		dls := watchDeadLetters(t, db)
		pa, _ := host.ProducerOf[int](db, "a")
		pb, _ := host.ProducerOf[int](db, "b")
		const n = 50
		for i := 1; i <= n; i++ {
			pa.Produce(i)
			pb.Produce(i)
		}
		eventually(t, 10*time.Second, "every value settled", func() bool {
			a, _ := db.LinkStats(0)
			b, _ := db.LinkStats(1)
			return a.DeadLettered == n && b.Delivered == n
		})
		if s := linkStatus(t, db, "a", "lb://bad").State; s != StateFailing {
			t.Fatalf("state %s, want failing", s)
		}
		got := dls()
		if len(got) != n {
			t.Fatalf("%d dead letters, want %d", len(got), n)
		}
		for i, d := range got {
			if d["payload"] != itoa(i+1) {
				t.Fatalf("dead letter %d holds %v, want %d (in order)", i, d["payload"], i+1)
			}
			if d["error_kind"] != "invalid destination" || d["direction"] != "link_to" || d["instance"] != "lb" || d["record"] != "a" {
				t.Fatalf("dead letter %d: %v", i, d)
			}
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

// retry_for gives a value up after retrying that long: it is dead-lettered with the
// last error and the link goes on.
func TestRetryForGivesUp(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		o := newOutage(t)
		b := host.NewBuilder(kind, WithInstance(lbInstance(o, sdk.Config{"inject": "none", "retry_for": "300ms"})))
		host.Configure(b, "a", func(r *host.Registrar[int]) { r.LinkTo("lb://x") })
		db, stop := startDB(t, b)
		dls := watchDeadLetters(t, db)
		p, _ := host.ProducerOf[int](db, "a")
		o.start(t)
		p.Produce(1)
		eventually(t, 10*time.Second, "the value to be given up", func() bool {
			st, _ := db.LinkStats(0)
			return st.DeadLettered == 1
		})
		o.end(t)
		p.Produce(2)
		eventually(t, 10*time.Second, "the next value to be delivered", func() bool {
			st, _ := db.LinkStats(0)
			return st.Delivered == 1
		})
		d := dls()
		if len(d) != 1 || d[0]["error_kind"] != "connection failed" || !strings.Contains(d[0]["error"].(string), "gave up after retrying for 300ms") {
			t.Fatalf("dead letters %v", d)
		}
		stop()
	})
}

// Inbound messages for a record that is full wait in order and are settled (the
// connector acknowledges them upstream) only once the record took them: a bridge
// whose outbound side is down loses nothing of a burst far larger than its ring.
func TestInboundHeldWhileRecordFull(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		o := newOutage(t)
		const n = 3000
		gen := Instance{Name: "gen", Plugin: "loopback", Options: sdk.Config{"inject": "none", "generate": "in:" + itoa(n) + ":8"}}
		b := host.NewBuilder(kind, WithInstance(gen), WithInstance(lbInstance(o, nil)))
		host.Configure(b, "bridge", func(r *host.Registrar[[]byte]) {
			r.SPMCRing(16)
			r.LinkFrom("gen://in").WithCodec("raw")
			r.LinkTo("lb://out").WithCodec("raw")
		})
		host.Configure(b, "sink", func(r *host.Registrar[[]byte]) { r.SPMCRing(8192); r.LinkFrom("lb://out").WithCodec("raw") })
		o.start(t)
		db, stop := startDB(t, b)
		sink, _ := host.ConsumerOf[[]byte](db, "sink")
		defer sink.Close()
		eventually(t, 10*time.Second, "the inbound link to hold messages", func() bool {
			return linkStatus(t, db, "bridge", "gen://in").Held > 0
		})
		in := linkStatus(t, db, "bridge", "gen://in")
		if in.State != StateBlocked || in.Stats.Refused == 0 {
			t.Fatalf("inbound while the record is full: %+v", in)
		}
		o.end(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := 0; i < n; i++ {
			if _, err := sink.Recv(ctx); err != nil {
				t.Fatalf("after %d of %d: %v", i, n, err)
			}
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		st, _ := db.LinkStats(0)
		if st.Received != n {
			t.Fatalf("inbound counters %+v, want %d received", st, n)
		}
	})
}

// When the drain deadline passes with values undelivered, shutdown says how many,
// per link, and Run fails.
func TestDrainDeadlineReportsUndelivered(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		o := newOutage(t)
		var logs syncbuf.Buffer
		log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
		b := host.NewBuilder(kind, host.WithLogger(log), host.WithDrainTimeout(500*time.Millisecond),
			WithInstance(lbInstance(o, sdk.Config{"inject": "none"})))
		host.Configure(b, "a", func(r *host.Registrar[int]) { r.SPMCRing(64); r.LinkTo("lb://x") })
		db, stop := startDB(t, b)
		p, _ := host.ProducerOf[int](db, "a")
		o.start(t)
		for i := 1; i <= 40; i++ {
			p.Produce(i)
		}
		err := stop()
		if err == nil || !strings.Contains(err.Error(), "40 values were not delivered") {
			t.Fatalf("Run: %v", err)
		}
		if !strings.Contains(logs.String(), `link=lb://x undelivered=40`) {
			t.Fatalf("log:\n%s", logs.String())
		}
	})
}

// A plugin that keeps crashing is restarted with backoff for ever, reported as a
// crash loop meanwhile, and serves again once it stays up.
func TestCrashLoopKeepsRestarting(t *testing.T) {
	b := host.NewBuilder(WithPlugins(pluginsDir), WithInstance(lbInstance("", nil)),
		WithPluginConfig(plugin.Config{Restart: plugin.RestartPolicy{Initial: 5 * time.Millisecond, Max: 200 * time.Millisecond, Limit: 5, Window: 10 * time.Second}}))
	host.Configure(b, "src", func(r *host.Registrar[int]) { r.LinkTo("lb://k") })
	host.Configure(b, "dst", func(r *host.Registrar[int]) { r.LinkFrom("lb://k") })
	db, stop := startDB(t, b)
	defer stop()
	svc := Of(db)
	proc := svc.procs["loopback"]
	sawLoop := false
	for kill := 1; kill <= 6; kill++ {
		var pid int
		eventually(t, 10*time.Second, "the plugin to be up", func() bool { pid = proc.Pid(); return pid != 0 })
		syscall.Kill(pid, syscall.SIGKILL)
		eventually(t, 5*time.Second, "the plugin to be seen down", func() bool {
			st := proc.State()
			sawLoop = sawLoop || st.CrashLoop
			return !st.Up || st.Pid != pid
		})
	}
	eventually(t, 5*time.Second, "the crash loop to be reported", func() bool {
		for _, c := range svc.Connectors() {
			sawLoop = sawLoop || c.State == "crash loop"
		}
		return sawLoop || proc.State().CrashLoop
	})
	dst, _ := host.ConsumerOf[int](db, "dst")
	defer dst.Close()
	p, _ := host.ProducerOf[int](db, "src")
	p.Produce(7)
	if v := recv(t, dst); v != 7 {
		t.Fatalf("after the crash loop got %d", v)
	}
	eventually(t, 5*time.Second, "the connector to be connected", func() bool {
		cs := svc.Connectors()
		return len(cs) == 1 && cs[0].State == "connected" && cs[0].Restarts == 6
	})
}

// A disk outbox takes values from a small ring as fast as they come, keeps what the
// destination did not confirm across a shutdown, and sends it, in order, after the
// next start.
func TestDiskOutboxKeepsValuesAcrossRestart(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		o := newOutage(t)
		data := t.TempDir()
		const n = 300
		build := func() *host.Builder {
			b := host.NewBuilder(kind, WithDataDir(data), host.WithDrainTimeout(300*time.Millisecond), WithInstance(lbInstance(o, nil)))
			host.Configure(b, "src", func(r *host.Registrar[int]) {
				r.SPMCRing(8)
				r.LinkTo("lb://k").WithOption("outbox", "disk")
			})
			host.Configure(b, "dst", func(r *host.Registrar[int]) { r.SPMCRing(4096); r.LinkFrom("lb://k") })
			return b
		}
		o.start(t)
		db, stop := startDB(t, build())
		p, _ := host.ProducerOf[int](db, "src")
		for i := 1; i <= n; i++ {
			if err := p.Produce(i); err != nil {
				// The ring holds 8; the filler moves values to disk as they come.
				if !errors.Is(err, host.ErrBufferFull) {
					t.Fatal(err)
				}
				i--
				time.Sleep(time.Millisecond)
			}
		}
		eventually(t, 10*time.Second, "every value in the outbox", func() bool {
			return linkStatus(t, db, "src", "lb://k").OutboxMessages == n
		})
		if err := stop(); err != nil {
			t.Fatalf("a drain that leaves values in a disk outbox is not an error: %v", err)
		}

		o.end(t)
		var dst *host.Consumer[int]
		db2, stop2 := startDBWith(t, build(), func(db *host.DB) { dst, _ = host.ConsumerOf[int](db, "dst") })
		defer dst.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got := receiveSeq(t, ctx, dst, n)
		t.Logf("after the restart: %s", got)
		if got.lost != 0 || got.outOfOrder != 0 {
			t.Fatalf("want every value, in order: %s; link %+v", got, linkStatus(t, db2, "src", "lb://k"))
		}
		eventually(t, 10*time.Second, "the outbox to empty", func() bool {
			return linkStatus(t, db2, "src", "lb://k").OutboxMessages == 0
		})
		if err := stop2(); err != nil {
			t.Fatal(err)
		}
	})
}

// A single_latest record's link sends its newest value after an outage: the values
// set meanwhile are replaced, not queued, and each one not sent is counted as
// dropped (at most the value already being sent when the outage began goes first).
func TestNewestWinsAfterOutage(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		o := newOutage(t)
		b := host.NewBuilder(kind, WithInstance(lbInstance(o, nil)))
		host.Configure(b, "src", func(r *host.Registrar[int]) { r.SingleLatest(); r.LinkTo("lb://k") })
		host.Configure(b, "dst", func(r *host.Registrar[int]) { r.SPMCRing(4096); r.LinkFrom("lb://k") })
		db, stop := startDB(t, b)
		dst, _ := host.ConsumerOf[int](db, "dst")
		defer dst.Close()
		prod, _ := host.ProducerOf[int](db, "src")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		o.start(t)
		const n = 50
		for i := 1; i <= n; i++ {
			if err := prod.Produce(i); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
			time.Sleep(2 * time.Millisecond) // each value is read by the link before the next
		}
		eventually(t, 5*time.Second, "the link to retry", func() bool {
			return linkStatus(t, db, "src", "lb://k").State == StateRetrying
		})
		o.end(t)
		var got []int
		for len(got) == 0 || got[len(got)-1] != n {
			v, err := dst.Recv(ctx)
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			got = append(got, v)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		l := linkStatus(t, db, "src", "lb://k")
		t.Logf("arrived %v; delivered %d, dropped %d", got, l.Stats.Delivered, l.Stats.Dropped)
		if len(got) > 2 {
			t.Errorf("after the outage %d values arrived (%v), want the newest, after at most the one being sent", len(got), got)
		}
		if l.Stats.Delivered != uint64(len(got)) || l.Stats.Delivered+l.Stats.Dropped != n {
			t.Errorf("delivered %d + dropped %d, want %d values accounted for, %d delivered", l.Stats.Delivered, l.Stats.Dropped, n, len(got))
		}
	})
}

// dead_letter = "KEY" sends a link's given-up values to that record instead of
// aimdb.dead_letters, and a payload that is not UTF-8 is kept there in base64.
func TestDeadLetterRecordOptionAndBinaryPayload(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		b := host.NewBuilder(kind, WithInstance(lbInstance("", sdk.Config{"inject": "none", "fail_destination": "bad"})))
		host.Configure(b, "dlq", func(r *host.Registrar[json.RawMessage]) { r.SPMCRing(64) })
		host.Configure(b, "a", func(r *host.Registrar[[]byte]) {
			r.LinkTo("lb://bad").WithCodec("raw").WithOption("dead_letter", "dlq")
		})
		db, stop := startDB(t, b)
		defaultDLs := watchDeadLetters(t, db)
		dlq, err := host.ConsumerOf[json.RawMessage](db, "dlq")
		if err != nil {
			t.Fatal(err)
		}
		defer dlq.Close()
		p, _ := host.ProducerOf[[]byte](db, "a")
		binary := []byte{0xff, 0xfe, 0x00, 0x01}
		if err := p.Produce(binary); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		raw, err := dlq.Recv(ctx)
		if err != nil {
			t.Fatalf("no dead letter in record dlq: %v", err)
		}
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		if d["payload_encoding"] != "base64" || d["payload"] != base64.StdEncoding.EncodeToString(binary) || d["record"] != "a" || d["error_kind"] != "invalid destination" {
			t.Errorf("dead letter %s, want the binary payload in base64", raw)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := defaultDLs(); len(got) != 0 {
			t.Errorf("aimdb.dead_letters got %v, want nothing (the link names dlq)", got)
		}
	})
}

// A disk outbox at outbox_max_bytes holds its record as an at-least-once link does:
// the record refuses new values (buffer full) instead of losing any, and once the
// destination is back every accepted value arrives, in order.
func TestFullDiskOutboxBackPressures(t *testing.T) {
	o := newOutage(t)
	b := host.NewBuilder(WithConnector(loopback.NewBuilder()), WithDataDir(t.TempDir()), WithInstance(lbInstance(o, nil)))
	host.Configure(b, "src", func(r *host.Registrar[int]) {
		r.SPMCRing(8)
		r.LinkTo("lb://k").WithOption("outbox", "disk").WithOption("outbox_max_bytes", "64")
	})
	host.Configure(b, "dst", func(r *host.Registrar[int]) { r.SPMCRing(4096); r.LinkFrom("lb://k") })
	o.start(t)
	db, stop := startDB(t, b)
	dst, _ := host.ConsumerOf[int](db, "dst")
	defer dst.Close()
	p, _ := host.ProducerOf[int](db, "src")
	// Produce until the record has refused for a whole second: the outbox is full.
	accepted := 0
	var refusedSince time.Time
	for deadline := time.Now().Add(15 * time.Second); ; {
		err := p.Produce(accepted + 1)
		switch {
		case err == nil:
			accepted++
			refusedSince = time.Time{}
		case !errors.Is(err, host.ErrBufferFull):
			t.Fatal(err)
		case refusedSince.IsZero():
			refusedSince = time.Now()
		}
		if !refusedSince.IsZero() && time.Since(refusedSince) > time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the record still accepts after %d values into a 64-byte outbox", accepted)
		}
		time.Sleep(5 * time.Millisecond)
	}
	l := linkStatus(t, db, "src", "lb://k")
	t.Logf("accepted %d values, then buffer full; outbox %d values, %d bytes; state %s", accepted, l.OutboxMessages, l.OutboxBytes, l.State)
	if l.OutboxBytes > 64 || l.OutboxMessages == 0 || accepted > l.OutboxMessages+8 || l.State != StateBlocked {
		t.Errorf("outbox %d bytes (max 64), %d messages for %d accepted values and a ring of 8", l.OutboxBytes, l.OutboxMessages, accepted)
	}
	o.end(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := receiveSeq(t, ctx, dst, accepted)
	t.Logf("after the outage: %s", got)
	if got.lost != 0 || got.outOfOrder != 0 {
		t.Errorf("want every accepted value, in order: %s", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
