package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestConnectorsCarryValuesBothWays(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		b := host.NewBuilder(kind)
		host.Configure(b, "room.temp", func(r *host.Registrar[Temperature]) { r.LinkTo("loopback://t/room1") })
		host.Configure(b, "mirror.plus", func(r *host.Registrar[Temperature]) { r.LinkFrom("loopback://t/+") })
		host.Configure(b, "mirror.hash", func(r *host.Registrar[Temperature]) { r.LinkFrom("loopback://t/#") })
		host.Configure(b, "other", func(r *host.Registrar[Temperature]) { r.LinkFrom("loopback://u") })
		db, stop := startDB(t, b)
		plus, _ := host.ConsumerOf[Temperature](db, "mirror.plus")
		hash, _ := host.ConsumerOf[Temperature](db, "mirror.hash")
		other, _ := host.ConsumerOf[Temperature](db, "other")
		defer plus.Close()
		defer hash.Close()
		defer other.Close()
		prod, err := host.ProducerOf[Temperature](db, "room.temp")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			prod.Produce(Temperature{Celsius: float64(i)})
		}
		for i := 0; i < 50; i++ {
			if v := recv(t, plus); v.Celsius != float64(i) {
				t.Fatalf("t/+ got %v, want %d", v, i)
			}
			if v := recv(t, hash); v.Celsius != float64(i) {
				t.Fatalf("t/# got %v, want %d", v, i)
			}
		}
		if v, err := other.TryRecv(); err == nil {
			t.Fatalf("route u got %v", v)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		st, _ := db.LinkStats(db.Links()[0].ID)
		if st.Delivered != 50 || st.Failed != 0 {
			t.Fatalf("outbound stats %+v", st)
		}
	})
}

func TestConnectorsValidateNamesRecordAndURL(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		b := host.NewBuilder(kind,
			WithInstance(Instance{Name: "plant", Plugin: "missing"}),
			WithInstance(Instance{Name: "strict", Plugin: "loopback", Options: sdk.Config{"bogus": "1", "injekt": "sync", "retry_mni": "1s"}}),
			WithInstance(Instance{Name: "slow", Plugin: "loopback", Options: sdk.Config{"plugin_linger": "2s"}}))
		host.Configure(b, "a", func(r *host.Registrar[Temperature]) { r.LinkTo("nope://x/y") })
		host.Configure(b, "b", func(r *host.Registrar[Temperature]) { r.LinkFrom("loopback://x/#/y") })
		host.Configure(b, "c", func(r *host.Registrar[Temperature]) {
			r.LinkTo("strict://z").WithOptions(sdk.Config{"delivery": "best_effort", "retry_fr": "1s", "qos": "1"})
		})
		_, err := b.Build()
		if err == nil {
			t.Fatal("Build succeeded")
		}
		// Every mistake says where it is as data: instance, or record and link, and option.
		var got []string
		for _, e := range sdk.Split(err) {
			var ce *host.ConfigError
			if !errors.As(e, &ce) {
				t.Fatalf("not a ConfigError: %v", e)
			}
			got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s", ce.Instance, ce.Record, ce.URL, ce.Option, e))
		}
		sort.Strings(got)
		want := []string{
			`plant|||plugin|` + `connector instance "plant": no connector kind "missing"`,
			`strict|||bogus|connector instance "strict": unknown option "bogus" (known: build_error, down_while, fail_destination, generate, inject, plugin_linger, retry_for, retry_max, retry_min, unhealthy)`,
			`slow|||plugin_linger|connector instance "slow": option "plugin_linger": 2s is outside 0s to 1s`,
			`strict|||injekt|connector instance "strict": unknown option "injekt" (did you mean "inject"?)`,
			`strict|||retry_mni|connector instance "strict": unknown option "retry_mni" (did you mean "retry_min"?)`,
			`|a|nope://x/y||record "a": link "nope://x/y": no connector instance or kind named "nope"`,
			`|b|loopback://x/#/y||record "b": link "loopback://x/#/y": invalid destination: pattern "x/#/y": "#" must be the last level`,
			`|c|strict://z|qos|record "c": link "strict://z": unknown option "qos" (known: codec, dead_letter, delivery, outbox, outbox_max_bytes, property, retry_for, retry_max, retry_min)`,
			`|c|strict://z|retry_fr|record "c": link "strict://z": unknown option "retry_fr" (did you mean "retry_for"?)`,
		}
		sort.Strings(want)
		for i := range max(len(got), len(want)) {
			g, w := "(none)", "(none)"
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if !strings.HasPrefix(g, w) {
				t.Errorf("mistake %d:\n got  %s\n want %s...", i, g, w)
			}
		}
	})
}

// Payloads that do not deserialize are counted, logged with the link URL and
// refused with KindRejected, while other routes keep flowing.
func TestConnectorsRejectUndecodablePayloads(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		var logs strings.Builder
		var logMu sync.Mutex
		log := hclog.New(&hclog.LoggerOptions{Output: writerFunc(func(p []byte) (int, error) {
			logMu.Lock()
			defer logMu.Unlock()
			return logs.Write(p)
		}), Level: hclog.Warn})
		b := host.NewBuilder(kind, host.WithLogger(log), WithInstance(Instance{Name: "lb", Plugin: "loopback", Options: sdk.Config{"inject": "sync"}}))
		host.Configure(b, "raw.out", func(r *host.Registrar[[]byte]) { r.LinkTo("lb://in/x").WithCodec("raw") })
		host.Configure(b, "typed", func(r *host.Registrar[Temperature]) { r.LinkFrom("lb://in/x") })
		host.Configure(b, "bytes", func(r *host.Registrar[[]byte]) { r.LinkFrom("lb://in/+").WithCodec("raw") })
		db, stop := startDB(t, b)
		deadLetters := watchDeadLetters(t, db)
		typed, _ := host.ConsumerOf[Temperature](db, "typed")
		raw, _ := host.ConsumerOf[[]byte](db, "bytes")
		defer typed.Close()
		defer raw.Close()
		prod, _ := host.ProducerOf[[]byte](db, "raw.out")
		prod.Produce([]byte("not json"))
		prod.Produce([]byte(`{"celsius":21.5}`))
		if v := recv(t, raw); string(v) != "not json" {
			t.Fatalf("bytes got %q", v)
		}
		if v := recv(t, typed); v.Celsius != 21.5 {
			t.Fatalf("typed got %v", v)
		}
		// Both routes must have the second value before shutdown closes the records.
		if v := recv(t, raw); string(v) != `{"celsius":21.5}` {
			t.Fatalf("bytes got %q", v)
		}
		stop()
		var in, out host.LinkStats
		for _, l := range db.Links() {
			switch l.Record {
			case "typed":
				in = l.Stats
			case "raw.out":
				out = l.Stats
			}
		}
		// The refusal was dead-lettered and reached the connector (Router.Route
		// returned KindRejected, a permanent error), which failed its publish: the
		// outbound value was dead-lettered too, and the link went on.
		logMu.Lock()
		defer logMu.Unlock()
		if in.DeadLettered != 1 || in.Received != 1 || out.Failed != 1 || out.DeadLettered != 1 || out.Delivered != 1 {
			t.Fatalf("typed %+v, raw.out %+v; log:\n%s", in, out, logs.String())
		}
		dl := deadLetters()
		if len(dl) != 2 || dl[0]["direction"] != "link_from" || dl[0]["payload"] != "not json" || dl[0]["error_kind"] != "rejected" ||
			dl[1]["direction"] != "link_to" || dl[1]["link"] != "lb://in/x" || dl[1]["record"] != "raw.out" {
			t.Fatalf("dead letters: %v", dl)
		}
		if !strings.Contains(logs.String(), "lb://in/x") {
			t.Fatalf("the refusal was not logged with the link URL:\n%s", logs.String())
		}
	})
}

// Values produced right before shutdown are published before the plugins stop.
func TestConnectorsDrainOnShutdown(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		b := host.NewBuilder(kind, WithInstance(Instance{Name: "sink", Plugin: "loopback", Options: sdk.Config{"inject": "none"}}))
		host.Configure(b, "burst", func(r *host.Registrar[Temperature]) { r.SPMCRing(4096); r.LinkTo("sink://drain") })
		db, stop := startDB(t, b)
		prod, _ := host.ProducerOf[Temperature](db, "burst")
		for i := 0; i < 3000; i++ {
			prod.Produce(Temperature{Celsius: float64(i)})
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		st, _ := db.LinkStats(0)
		if st.Delivered != 3000 {
			t.Fatalf("delivered %d of 3000 before shutdown (%+v)", st.Delivered, st)
		}
	})
}

// A plugin killed mid-stream loses nothing: the batches it had not confirmed fail
// with a retryable error and are sent again, in order, once it is back.
func TestConnectorsResumeAfterPluginKill(t *testing.T) {
	b := host.NewBuilder(WithPlugins(pluginsDir), WithPluginConfig(plugin.Config{Restart: plugin.RestartPolicy{Initial: 10 * time.Millisecond}}), host.WithLogger(hclog.New(&hclog.LoggerOptions{Level: hclog.Debug})),
		WithInstance(Instance{Name: "lb", Plugin: "loopback", Options: sdk.Config{"inject": "sync", "retry_min": "10ms", "retry_max": "100ms"}}))
	host.Configure(b, "src", func(r *host.Registrar[int]) { r.SPMCRing(64); r.LinkTo("lb://k") })
	host.Configure(b, "dst", func(r *host.Registrar[int]) { r.SPMCRing(4096); r.LinkFrom("lb://k") })
	db, stop := startDB(t, b)
	defer stop()
	dst, _ := host.ConsumerOf[int](db, "dst")
	defer dst.Close()
	prod, _ := host.ProducerOf[int](db, "src")
	proc := Of(db).procs["loopback"]
	const n = 2000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		for i := 1; i <= n; i++ {
			if i == n/4 {
				syscall.Kill(proc.Pid(), syscall.SIGKILL)
			}
			if err := prod.ProduceWait(ctx, i); err != nil {
				t.Errorf("produce %d: %v", i, err)
				return
			}
		}
	}()
	got := receiveSeq(t, ctx, dst, n)
	t.Logf("after a plugin SIGKILL: %s", got)
	if got.lost != 0 || got.outOfOrder != 0 {
		t.Fatalf("lost or reordered values: %s", got)
	}
	eventually(t, 5*time.Second, "the connector to be connected again", func() bool {
		cs := Of(db).Connectors()
		return len(cs) == 1 && cs[0].State == "connected" && cs[0].Restarts == 1 && strings.HasSuffix(cs[0].Plugin, "loopback")
	})
}

// A plugin the configuration needs that cannot start is a configuration error naming
// the binary, and the plugins that did start are stopped again; a broken plugin the
// configuration does not use is not started at all.
func TestConnectorsPluginStartFailureFailsBuild(t *testing.T) {
	b := host.NewBuilder(WithPlugins(brokenPluginsDir))
	host.Configure(b, "a", func(r *host.Registrar[Temperature]) { r.LinkTo("crash://x") })
	_, err := b.Build()
	crash := filepath.Join(brokenPluginsDir, "crash")
	if err == nil || !strings.Contains(err.Error(), crash) || !strings.Contains(err.Error(), "exited during start-up") {
		t.Fatalf("err = %v", err)
	}
	if s := b.Service(ServiceName).(*Service); len(s.mgrs) != 0 {
		t.Fatal("plugins left running after a failed Build")
	}

	b = host.NewBuilder(WithPlugins(brokenPluginsDir))
	host.Configure(b, "a", func(r *host.Registrar[Temperature]) { r.LinkTo("loopback://x") })
	db, err := b.Build()
	if err != nil {
		t.Fatalf("a configuration that uses only loopback: %v", err)
	}
	defer db.Close()
	if m := Of(db).mgrs[0]; len(m.Plugins()) != 1 || !strings.HasSuffix(m.Plugins()[0].Info().Path, "loopback") {
		t.Fatalf("running plugins: %v", m.Plugins())
	}
}

// A kind whose plugin is not named after it is still found, and an unknown kind is
// an error that lists every kind the plugins serve.
func TestConnectorsFindKindsOfOtherNames(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(pluginsDir, "loopback"), filepath.Join(dir, "aimdb-loop")); err != nil {
		t.Fatal(err)
	}
	b := host.NewBuilder(WithPlugins(dir))
	host.Configure(b, "a", func(r *host.Registrar[Temperature]) { r.LinkTo("echo://x") })
	db, err := b.Build()
	if err != nil {
		t.Fatalf("kind echo served by a plugin named aimdb-loop: %v", err)
	}
	db.Close()
	b = host.NewBuilder(WithPlugins(dir))
	host.Configure(b, "a", func(r *host.Registrar[Temperature]) { r.LinkTo("nope://x") })
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "kinds: echo, loopback") {
		t.Fatalf("unknown kind: %v", err)
	}
}

// seqCount is what a receiver saw of values 1..n by sequence number.
type seqCount struct {
	sent, arrived, lost, duplicated, outOfOrder int
}

func (c seqCount) String() string {
	return fmt.Sprintf("sent %d, arrived %d, lost %d, duplicated %d, out of order %d", c.sent, c.arrived, c.lost, c.duplicated, c.outOfOrder)
}

// receiveSeq receives until every value 1..n arrived or ctx ends, and counts.
func receiveSeq(t *testing.T, ctx context.Context, c *host.Consumer[int], n int) seqCount {
	t.Helper()
	seen := make([]int, n+1)
	cnt := seqCount{sent: n}
	last, distinct := 0, 0
	for distinct < n {
		v, err := c.Recv(ctx)
		var lag *host.LagError
		if errors.As(err, &lag) {
			t.Fatalf("the test's own consumer lagged by %d", lag.Missed)
		}
		if err != nil {
			break
		}
		cnt.arrived++
		if v < 1 || v > n {
			t.Fatalf("value %d out of range", v)
		}
		if seen[v]++; seen[v] > 1 {
			cnt.duplicated++
			continue
		}
		distinct++
		if v < last {
			cnt.outOfOrder++
		}
		last = v
	}
	cnt.lost = n - distinct
	return cnt
}

// watchDeadLetters subscribes to the built-in dead-letter record; the function it
// returns takes the dead letters that arrived since, oldest first.
func watchDeadLetters(t *testing.T, db *host.DB) func() []map[string]any {
	t.Helper()
	c, err := host.ConsumerOf[json.RawMessage](db, host.DeadLetterKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return func() []map[string]any {
		var out []map[string]any
		for {
			raw, err := c.TryRecv()
			if err != nil {
				return out
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("dead letter is not JSON: %s", raw)
			}
			out = append(out, m)
		}
	}
}

// What an inbound message carries beside its payload reaches a record that asks for
// it, across the plugin boundary too; a record that does not ask gets the value alone.
func TestConnectorsPassMetadataToRecords(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		b := host.NewBuilder(kind)
		host.Configure(b, "out", func(r *host.Registrar[Temperature]) {
			r.LinkTo("loopback://m/a").WithOption("property", "site=plant-b")
		})
		type withMeta struct {
			Temperature
			Site, ReplyTo string
		}
		host.Configure(b, "meta", func(r *host.Registrar[withMeta]) {
			r.LinkFrom("loopback://m/+").WithMessageDeserializer(func(p []byte, m *sdk.Metadata) (withMeta, error) {
				var v withMeta
				err := json.Unmarshal(p, &v.Temperature)
				v.Site, _ = m.Get("site")
				if m != nil {
					v.ReplyTo = m.ResponseTopic
				}
				return v, err
			})
		})
		host.Configure(b, "plain", func(r *host.Registrar[Temperature]) { r.LinkFrom("loopback://m/#") })
		db, stop := startDB(t, b)
		defer stop()
		meta, _ := host.ConsumerOf[withMeta](db, "meta")
		plain, _ := host.ConsumerOf[Temperature](db, "plain")
		defer meta.Close()
		defer plain.Close()
		prod, _ := host.ProducerOf[Temperature](db, "out")
		if err := prod.Produce(Temperature{Celsius: 7}); err != nil {
			t.Fatal(err)
		}
		if v := recv(t, meta); v.Celsius != 7 || v.Site != "plant-b" || v.ReplyTo != "m/a" {
			t.Fatalf("record with metadata got %+v", v)
		}
		if v := recv(t, plain); v.Celsius != 7 {
			t.Fatalf("plain record got %+v", v)
		}
	})
}

// With plugin_linger, values produced a few milliseconds apart (so messages flow and
// linger) all arrive, once each, in order, through the plugin and back.
func TestConnectorsLingerLosesNothing(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind host.Option) {
		b := host.NewBuilder(kind, WithInstance(Instance{Name: "loopback", Options: sdk.Config{"plugin_linger": "20ms"}}))
		host.Configure(b, "room.temp", func(r *host.Registrar[Temperature]) { r.LinkTo("loopback://t/room1") })
		host.Configure(b, "mirror", func(r *host.Registrar[Temperature]) { r.LinkFrom("loopback://t/+") })
		db, stop := startDB(t, b)
		mirror, _ := host.ConsumerOf[Temperature](db, "mirror")
		defer mirror.Close()
		prod, err := host.ProducerOf[Temperature](db, "room.temp")
		if err != nil {
			t.Fatal(err)
		}
		const n = 200
		go func() {
			for i := range n {
				prod.Produce(Temperature{Celsius: float64(i)})
				time.Sleep(time.Millisecond)
			}
		}()
		for i := range n {
			if v := recv(t, mirror); v.Celsius != float64(i) {
				t.Fatalf("value %d arrived as %v: lost, duplicated or reordered", i, v.Celsius)
			}
		}
		if v, err := mirror.TryRecv(); err == nil {
			t.Fatalf("an extra value arrived: %v", v)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		st, _ := db.LinkStats(db.Links()[0].ID)
		if st.Delivered != n || st.Failed != 0 {
			t.Fatalf("outbound stats %+v, want %d delivered", st, n)
		}
	})
}
