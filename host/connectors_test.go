package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

var (
	// brokenPluginsDir holds the crash plugin beside a loopback plugin.
	brokenPluginsDir string

	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

// loopbackPlugins returns a directory holding only the loopback plugin, built once per
// test binary into testDir; it also builds brokenPluginsDir.
func loopbackPlugins(t testing.TB) string {
	t.Helper()
	pluginsOnce.Do(func() {
		pluginsDir = filepath.Join(testDir, "plugins")
		brokenPluginsDir = filepath.Join(testDir, "broken-plugins")
		brokenDir := brokenPluginsDir
		if pluginsErr = os.MkdirAll(pluginsDir, 0o755); pluginsErr == nil {
			pluginsErr = testbuild.Plugins(pluginsDir, "loopback")
		}
		if pluginsErr == nil {
			if pluginsErr = os.MkdirAll(brokenDir, 0o755); pluginsErr == nil {
				pluginsErr = testbuild.Plugins(brokenDir, "crash", "loopback")
			}
		}
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	return pluginsDir
}

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// connectorKinds runs f once with the loopback kind in-process and once as a plugin.
func connectorKinds(t *testing.T, f func(t *testing.T, kind Option)) {
	t.Run("in-process", func(t *testing.T) { f(t, WithConnector(loopback.NewBuilder())) })
	t.Run("plugin", func(t *testing.T) { f(t, WithPlugins(loopbackPlugins(t))) })
}

func TestConnectorsCarryValuesBothWays(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind Option) {
		b := NewBuilder(kind)
		Configure(b, "room.temp", func(r *Registrar[Temperature]) { r.LinkTo("loopback://t/room1") })
		Configure(b, "mirror.plus", func(r *Registrar[Temperature]) { r.LinkFrom("loopback://t/+") })
		Configure(b, "mirror.hash", func(r *Registrar[Temperature]) { r.LinkFrom("loopback://t/#") })
		Configure(b, "other", func(r *Registrar[Temperature]) { r.LinkFrom("loopback://u") })
		db, stop := startDB(t, b)
		plus, _ := ConsumerOf[Temperature](db, "mirror.plus")
		hash, _ := ConsumerOf[Temperature](db, "mirror.hash")
		other, _ := ConsumerOf[Temperature](db, "other")
		defer plus.Close()
		defer hash.Close()
		defer other.Close()
		prod, err := ProducerOf[Temperature](db, "room.temp")
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
		if st.Sent != 50 || st.Errors != 0 {
			t.Fatalf("outbound stats %+v", st)
		}
	})
}

func TestConnectorsValidateNamesRecordAndURL(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind Option) {
		b := NewBuilder(kind,
			WithInstance(Instance{Name: "plant", Plugin: "missing"}),
			WithInstance(Instance{Name: "strict", Plugin: "loopback", Options: sdk.Config{"bogus": "1"}}))
		Configure(b, "a", func(r *Registrar[Temperature]) { r.LinkTo("nope://x/y") })
		Configure(b, "b", func(r *Registrar[Temperature]) { r.LinkFrom("loopback://x/#/y") })
		Configure(b, "c", func(r *Registrar[Temperature]) { r.LinkTo("strict://z") })
		_, err := b.Build()
		if err == nil {
			t.Fatal("Build succeeded")
		}
		msg := err.Error()
		for _, want := range []string{
			`record "a": link "nope://x/y": no connector instance or kind named "nope"`,
			`connector instance "plant": no connector kind "missing"`,
			`record "b": link "loopback://x/#/y"`,
			`connector instance "strict"`, `unknown option "bogus"`,
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q:\n%s", want, msg)
			}
		}
	})
}

// Payloads that do not deserialize are counted, logged with the link URL and
// refused with KindRejected, while other routes keep flowing.
func TestConnectorsRejectUndecodablePayloads(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind Option) {
		var logs strings.Builder
		var logMu sync.Mutex
		log := hclog.New(&hclog.LoggerOptions{Output: writerFunc(func(p []byte) (int, error) {
			logMu.Lock()
			defer logMu.Unlock()
			return logs.Write(p)
		}), Level: hclog.Warn})
		b := NewBuilder(kind, WithLogger(log), WithInstance(Instance{Name: "lb", Plugin: "loopback", Options: sdk.Config{"inject": "sync"}}))
		Configure(b, "raw.out", func(r *Registrar[[]byte]) { r.LinkTo("lb://in/x").WithCodec("raw") })
		Configure(b, "typed", func(r *Registrar[Temperature]) { r.LinkFrom("lb://in/x") })
		Configure(b, "bytes", func(r *Registrar[[]byte]) { r.LinkFrom("lb://in/+").WithCodec("raw") })
		db, stop := startDB(t, b)
		typed, _ := ConsumerOf[Temperature](db, "typed")
		raw, _ := ConsumerOf[[]byte](db, "bytes")
		defer typed.Close()
		defer raw.Close()
		prod, _ := ProducerOf[[]byte](db, "raw.out")
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
		var in, out LinkStats
		for _, l := range db.Links() {
			switch l.Record {
			case "typed":
				in = l.Stats
			case "raw.out":
				out = l.Stats
			}
		}
		// The refusal reached the connector (Router.Route returned KindRejected), which
		// failed its publish: one error on the outbound link.
		logMu.Lock()
		defer logMu.Unlock()
		if in.Rejected != 1 || in.Received != 1 || out.Errors != 1 || out.Sent != 1 {
			t.Fatalf("typed %+v, raw.out %+v; log:\n%s", in, out, logs.String())
		}
		if !strings.Contains(logs.String(), "lb://in/x") {
			t.Fatalf("the refusal was not logged with the link URL:\n%s", logs.String())
		}
	})
}

// Values produced right before shutdown are published before the plugins stop.
func TestConnectorsDrainOnShutdown(t *testing.T) {
	connectorKinds(t, func(t *testing.T, kind Option) {
		b := NewBuilder(kind, WithInstance(Instance{Name: "sink", Plugin: "loopback", Options: sdk.Config{"inject": "none"}}))
		Configure(b, "burst", func(r *Registrar[Temperature]) { r.SPMCRing(4096); r.LinkTo("sink://drain") })
		db, stop := startDB(t, b)
		prod, _ := ProducerOf[Temperature](db, "burst")
		for i := 0; i < 3000; i++ {
			prod.Produce(Temperature{Celsius: float64(i)})
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		st, _ := db.LinkStats(0)
		if st.Sent != 3000 {
			t.Fatalf("sent %d of 3000 before shutdown (%+v)", st.Sent, st)
		}
	})
}

func TestConnectorsResumeAfterPluginKill(t *testing.T) {
	b := NewBuilder(WithPlugins(loopbackPlugins(t)), WithPluginConfig(plugin.Config{Restart: plugin.RestartPolicy{Initial: 10 * time.Millisecond}}))
	Configure(b, "src", func(r *Registrar[Temperature]) { r.SPMCRing(1024); r.LinkTo("loopback://k") })
	Configure(b, "dst", func(r *Registrar[Temperature]) { r.SPMCRing(1024); r.LinkFrom("loopback://k") })
	db, stop := startDB(t, b)
	defer stop()
	dst, _ := ConsumerOf[Temperature](db, "dst")
	defer dst.Close()
	prod, _ := ProducerOf[Temperature](db, "src")
	s := b.Service(ConnectorsService).(*connectorService)
	proc := s.procs["loopback"]
	prod.Produce(Temperature{Celsius: 1})
	if v := recv(t, dst); v.Celsius != 1 {
		t.Fatalf("got %v", v)
	}
	old := proc.Pid()
	syscall.Kill(old, syscall.SIGKILL)
	// Produced while the plugin is down: kept in the record buffer, published after.
	for i := 2; i <= 20; i++ {
		prod.Produce(Temperature{Celsius: float64(i)})
	}
	seen := map[float64]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for len(seen) < 19 {
		v, err := dst.Recv(ctx)
		var lag *LagError
		if errors.As(err, &lag) {
			continue
		}
		if err != nil {
			t.Fatalf("after kill: got %d of 19 values: %v", len(seen), err)
		}
		seen[v.Celsius] = true
	}
	if p := proc.Pid(); p == old || p == 0 {
		t.Fatalf("pid %d after killing %d", p, old)
	}
	statuses := Connectors(context.Background(), db)
	if len(statuses) != 1 || statuses[0].Health != nil || !strings.HasSuffix(statuses[0].Plugin, "loopback") {
		t.Fatalf("statuses %+v", statuses)
	}
}

// A plugin that cannot start is a configuration error naming the binary, and the
// plugins that did start are stopped again.
func TestConnectorsPluginStartFailureFailsBuild(t *testing.T) {
	loopbackPlugins(t)
	b := NewBuilder(WithPlugins(brokenPluginsDir))
	Configure(b, "a", func(r *Registrar[Temperature]) { r.LinkTo("loopback://x") })
	_, err := b.Build()
	crash := filepath.Join(brokenPluginsDir, "crash")
	if err == nil || !strings.Contains(err.Error(), crash) || !strings.Contains(err.Error(), "exited during start-up") {
		t.Fatalf("err = %v", err)
	}
	if s := b.Service(ConnectorsService).(*connectorService); len(s.mgrs) != 0 {
		t.Fatal("plugins left running after a failed Build")
	}
}
