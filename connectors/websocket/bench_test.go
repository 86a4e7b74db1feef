package websocket_test

import (
	"context"
	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	wsconn "github.com/aimdb-dev/aimdb-go/connectors/websocket"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// benchPayload is a 64-byte JSON value.
var benchPayload = []byte(`{"seq":1234567,"temp":21.5,"unit":"C","pad":"xxxxxxxxxxxxxxxx"}`)

// frameSink is a WebSocket server in this process that counts the frames it reads.
type frameSink struct {
	srv *httptest.Server
	n   atomic.Int64
}

func newFrameSink(b *testing.B) *frameSink {
	s := &frameSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
			s.n.Add(1)
		}
	}))
	b.Cleanup(s.srv.Close)
	return s
}

func (s *frameSink) url() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") }

// await waits until the sink has read n frames in all.
func (s *frameSink) await(b *testing.B, n int64) {
	for deadline := time.Now().Add(2 * time.Minute); s.n.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("the server read %d of %d frames", s.n.Load(), n)
		}
	}
}

// BenchmarkPublish sends 64-byte values to a WebSocket server in this process: with a
// bare coder/websocket client (frames written back to back, one ping at the end), and
// through the plugin process (values published by 64 callers at once, as the host's
// link pump keeps a link busy) with confirm = "none" and "ping". cpu-ns/msg is this
// process's CPU (server included, for every case alike) plus the plugin's.
func BenchmarkPublish(b *testing.B) {
	dir := b.TempDir()
	if err := testbuild.Packages(dir, "./plugins/websocket"); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "websocket")
	b.Run("bare", benchBare)
	for _, confirm := range []string{"none", "ping"} {
		b.Run("plugin/confirm="+confirm, func(b *testing.B) { benchPlugin(b, bin, confirm) })
	}
	for _, confirm := range []string{"none", "ping"} {
		b.Run("in-process/batch=64/confirm="+confirm, func(b *testing.B) { benchInProcess(b, confirm) })
	}
}

// benchInProcess publishes batches of 64 values through the connector run in this
// process, as the host's link pump hands a busy link its values: one confirm ping per
// batch.
func benchInProcess(b *testing.B, confirm string) {
	sink := newFrameSink(b)
	u, err := sdk.ParseConnectorURL(sink.url())
	if err != nil {
		b.Fatal(err)
	}
	inst, err := run.Start(context.Background(), wsconn.NewBuilder(), run.Config{
		Name: "bench", URL: u, Options: sdk.Config{"ping_interval": "0s"},
		Outbound: []sdk.LinkSpec{{ID: 1, Direction: sdk.Outbound, Resource: "bench", Config: sdk.Config{"confirm": confirm}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(context.Background())
	const batch = 64
	payloads := make([][]byte, batch)
	for i := range payloads {
		payloads[i] = benchPayload
	}
	errs := make([]error, batch)
	ctx := context.Background()
	cpu0 := cputime.Self()
	b.ResetTimer()
	begin := time.Now()
	for sent := 0; sent < b.N; sent += batch {
		n := min(batch, b.N-sent)
		inst.PublishBatch(ctx, 1, 1, payloads[:n], errs[:n])
		for _, err := range errs[:n] {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	sink.await(b, int64(b.N))
	elapsed := time.Since(begin)
	b.StopTimer()
	report(b, elapsed, cputime.Self()-cpu0)
}

func benchBare(b *testing.B) {
	sink := newFrameSink(b)
	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, sink.url()+"/bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.CloseNow()
	conn.CloseRead(ctx) // a reader, so pongs are seen
	cpu0 := cputime.Self()
	b.ResetTimer()
	begin := time.Now()
	for range b.N {
		if err := conn.Write(ctx, websocket.MessageText, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
	if err := conn.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	sink.await(b, int64(b.N))
	report(b, time.Since(begin), cputime.Self()-cpu0)
}

func benchPlugin(b *testing.B, bin, confirm string) {
	sink := newFrameSink(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target, err := conformance.LaunchProcess(ctx, bin, conformance.ProcessOptions{LogLevel: "error"})
	if err != nil {
		b.Fatal(err)
	}
	defer target.Kill()
	inst, err := target.Build(ctx, conformance.InstanceSpec{
		Name: "bench", Scheme: "websocket", URL: sink.url(), Options: sdk.Config{"ping_interval": "0s"},
		Links: []conformance.Link{{ID: 1, Direction: sdk.Outbound, Resource: "bench", Options: sdk.Config{"confirm": confirm}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(context.Background())
	for deadline := time.Now().Add(10 * time.Second); inst.Health(ctx) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("not connected")
		}
	}
	const callers = 64
	var next atomic.Int64
	var failed atomic.Value
	cpu0 := cputime.Self() + cputime.Process(target.Pid())
	b.ResetTimer()
	begin := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := inst.Publish(ctx, 1, benchPayload); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	sink.await(b, int64(b.N))
	elapsed := time.Since(begin)
	b.StopTimer()
	report(b, elapsed, cputime.Self()+cputime.Process(target.Pid())-cpu0)
}

func report(b *testing.B, elapsed, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}
