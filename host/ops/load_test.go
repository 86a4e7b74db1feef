package ops

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aimdb-dev/aimdb-go/host/control"
)

// Load of TestWSLoad.
const (
	loadClients  = 200
	loadRecords  = 10
	loadRate     = 5000 // values per second, over all records
	loadDuration = 10 * time.Second
	loadMaxRSS   = 100 << 20
)

// TestWSLoad: 200 WebSocket clients watch every record while 5,000 values a second
// are written through the control socket: the host's RSS stays under 100 MiB, every
// client gets values, and `aimdb record list` on the control socket keeps answering
// (nine calls in ten within a second, process start included).
func TestWSLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	var cfg strings.Builder
	for i := range loadRecords {
		fmt.Fprintf(&cfg, "record \"load.r%d\" {\n  capacity = 256\n  writable = true\n}\n", i)
	}
	p := startAimdb(t, cfg.String())
	wsURL := "ws" + strings.TrimPrefix(p.base, "http") + "/ws?v=3.0"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events, lost atomic.Int64
	got := make([]atomic.Int64, loadClients)
	var wg sync.WaitGroup
	for i := range loadClients {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		c, _, err := websocket.Dial(dctx, wsURL, nil)
		dcancel()
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		c.SetReadLimit(1 << 20)
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"t":"sub","id":1,"topic":"load.#"}`)); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.CloseNow()
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					return
				}
				if strings.Contains(string(b), `"t":"event"`) {
					events.Add(1)
					got[i].Add(1)
					if j := strings.Index(string(b), `"lag":`); j >= 0 {
						var n int64
						fmt.Sscanf(string(b[j+6:]), "%d", &n)
						lost.Add(n)
					}
				}
			}
		})
	}

	// The writer: fire-and-forget write frames on the control socket, paced.
	path, _ := control.SocketPath(p.control)
	wconn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer wconn.Close()
	written := 0
	writerDone := make(chan error, 1)
	go func() {
		const tick = 10 * time.Millisecond
		tk := time.NewTicker(tick)
		defer tk.Stop()
		start := time.Now()
		var buf []byte
		for time.Since(start) < loadDuration {
			<-tk.C
			want := int(time.Since(start) * loadRate / time.Second)
			buf = buf[:0]
			for written < want {
				buf = fmt.Appendf(buf, `{"t":"write","topic":"load.r%d","payload":{"n":%d,"pad":"0123456789abcdef0123456789abcdef"}}`+"\n", written%loadRecords, written)
				written++
			}
			if _, err := wconn.Write(buf); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()

	// A unix-socket client (the aimdb command, a process of its own) asks for the
	// record list every 200 ms, and the host's RSS is sampled.
	var lat []time.Duration
	var maxRSS int64
	tk := time.NewTicker(200 * time.Millisecond)
	defer tk.Stop()
	var werr error
wait:
	for {
		select {
		case werr = <-writerDone:
			break wait
		case <-tk.C:
		}
		start := time.Now()
		out, err := exec.Command(aimdbBin, "record", "list", "--connect", p.control, "--timeout", "5s").CombinedOutput()
		if err != nil {
			t.Fatalf("aimdb record list: %v: %s", err, out)
		}
		lat = append(lat, time.Since(start))
		maxRSS = max(maxRSS, p.rss(t))
	}
	if werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	time.Sleep(500 * time.Millisecond)
	maxRSS = max(maxRSS, p.rss(t))
	cancel()
	wg.Wait()

	slices.Sort(lat)
	p90 := lat[len(lat)*9/10]
	starved := 0
	for i := range got {
		if got[i].Load() == 0 {
			starved++
		}
	}
	t.Logf("%d values written in %v; %d WebSocket clients got %d events (%d more skipped as lag, %.0f%% of %d); host RSS max %.1f MiB; aimdb record list (process start included): %d calls, median %v, p90 %v, max %v",
		written, loadDuration, loadClients, events.Load(), lost.Load(), 100*float64(events.Load())/float64(written*loadClients), written*loadClients,
		float64(maxRSS)/(1<<20), len(lat), lat[len(lat)/2].Round(time.Millisecond), p90.Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	if written < loadRate*int(loadDuration/time.Second)*9/10 {
		t.Errorf("only %d values written", written)
	}
	if maxRSS >= loadMaxRSS {
		t.Errorf("host RSS reached %.1f MiB, want under %d MiB", float64(maxRSS)/(1<<20), loadMaxRSS>>20)
	}
	if starved > 0 {
		t.Errorf("%d of %d clients got no value", starved, loadClients)
	}
	if p90 > time.Second || lat[len(lat)-1] > 3*time.Second {
		t.Errorf("aimdb record list took %v (p90) and up to %v: want p90 under 1 s and every call under 3 s", p90, lat[len(lat)-1])
	}
}
