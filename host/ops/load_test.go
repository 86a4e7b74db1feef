package ops

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
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
	loadValues   = loadRate * int(loadDuration/time.Second)
	loadMaxRSS   = 100 << 20
	// loadCallTimeout only catches a control socket that stopped answering: how fast
	// it answers is logged, not asserted.
	loadCallTimeout = "30s"
)

// TestWSLoad: 200 WebSocket clients watch every record while 50,000 values are
// written through the control socket, 5,000 a second: the host's RSS stays under
// 100 MiB (its queues are bounded), every client gets values, and every `aimdb record
// list` on the control socket meanwhile answers. How long those calls take (median,
// p90, max) is logged, not asserted: a test checks behaviour, not speed.
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

	// The writer: this test binary run again as a process of its own (loadgen), so
	// the WebSocket clients here cannot starve it.
	gen := exec.Command(os.Args[0])
	gen.Env = append(os.Environ(), loadgenEnv+"="+p.control)
	var genOut bytes.Buffer
	gen.Stdout, gen.Stderr = &genOut, &genOut
	if err := gen.Start(); err != nil {
		t.Fatal(err)
	}
	genStart := time.Now()
	writerDone := make(chan error, 1)
	go func() { writerDone <- gen.Wait() }()

	// A unix-socket client (the aimdb command, a process of its own) asks for the
	// record list every 200 ms until the writer is done, and the host's RSS is sampled.
	var lat []time.Duration
	var maxRSS int64
	tk := time.NewTicker(200 * time.Millisecond)
	defer tk.Stop()
	var werr error
	var writeTime time.Duration
wait:
	for {
		select {
		case werr = <-writerDone:
			writeTime = time.Since(genStart)
			break wait
		case <-tk.C:
		}
		start := time.Now()
		out, err := exec.Command(aimdbBin, "record", "list", "--connect", p.control, "--timeout", loadCallTimeout).CombinedOutput()
		if err != nil {
			t.Fatalf("aimdb record list: %v: %s", err, out)
		}
		lat = append(lat, time.Since(start))
		maxRSS = max(maxRSS, p.rss(t))
	}
	if werr != nil {
		t.Fatalf("writer: %v: %s", werr, genOut.String())
	}
	written, err := strconv.Atoi(strings.TrimSpace(genOut.String()))
	if err != nil {
		t.Fatalf("writer said %q", genOut.String())
	}
	time.Sleep(500 * time.Millisecond)
	maxRSS = max(maxRSS, p.rss(t))
	cancel()
	wg.Wait()

	if len(lat) == 0 {
		t.Fatal("no aimdb record list call while the values were written")
	}
	slices.Sort(lat)
	starved := 0
	for i := range got {
		if got[i].Load() == 0 {
			starved++
		}
	}
	t.Logf("%d values written in %v; %d WebSocket clients got %d events (%d more skipped as lag, %.0f%% of %d); host RSS max %.1f MiB; aimdb record list (process start included): %d calls, median %v, p90 %v, max %v",
		written, writeTime.Round(time.Millisecond), loadClients, events.Load(), lost.Load(), 100*float64(events.Load())/float64(written*loadClients), written*loadClients,
		float64(maxRSS)/(1<<20), len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*9/10].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	if written != loadValues {
		t.Errorf("%d values written, want %d", written, loadValues)
	}
	if maxRSS >= loadMaxRSS {
		t.Errorf("host RSS reached %.1f MiB, want under %d MiB", float64(maxRSS)/(1<<20), loadMaxRSS>>20)
	}
	if starved > 0 {
		t.Errorf("%d of %d clients got no value", starved, loadClients)
	}
}

// loadgenEnv makes the test binary TestWSLoad's writer: it writes loadValues values,
// loadRate a second, to the control socket it names, then prints the count.
const loadgenEnv = "AIMDB_OPS_LOADGEN"

// loadgen is the writer: fire-and-forget write frames, paced every 10 ms, catching up
// when it falls behind. It returns the process's exit code.
func loadgen(addr string) int {
	path, err := control.SocketPath(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	start := time.Now()
	written := 0
	var buf []byte
	for written < loadValues {
		<-tk.C
		want := min(int(time.Since(start)*loadRate/time.Second), loadValues)
		buf = buf[:0]
		for ; written < want; written++ {
			buf = fmt.Appendf(buf, `{"t":"write","topic":"load.r%d","payload":{"n":%d,"pad":"0123456789abcdef0123456789abcdef"}}`+"\n", written%loadRecords, written)
		}
		if _, err := conn.Write(buf); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println(written)
	return 0
}
