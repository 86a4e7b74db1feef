package ops

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aimdb-dev/aimdb-go/host/control"
)

// TestDashboardSoak leaves the dashboard open while 500 values a second flow, for
// $AIMDB_SOAK (a duration such as 1h; the test is skipped without it), and samples the
// page's JS heap and the host's RSS: neither may grow by more than half between the
// first sample after warm-up and the last.
//
//	AIMDB_SOAK=1h go test -run TestDashboardSoak -timeout 2h -v ./host/ops/
func TestDashboardSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("AIMDB_SOAK"))
	if err != nil {
		t.Skip("set AIMDB_SOAK=DURATION (for example 1h) to leave the dashboard open that long")
	}
	chromium := findChromium(t)
	p := startAimdb(t, "record \"soak.a\" {\n  writable = true\n}\nrecord \"soak.b\" {\n  buffer   = \"single_latest\"\n  writable = true\n}\n")
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()),
			chromedp.Flag("enable-precise-memory-info", true), chromedp.Flag("js-flags", "--expose-gc")}, chromiumFlags...)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(chromedp.CSS("#conn.conn-up"))); err != nil {
		t.Fatal(err)
	}
	path, _ := control.SocketPath(p.control)
	wc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			var buf []byte
			for j := range 5 {
				buf = fmt.Appendf(buf, `{"t":"write","topic":"soak.a","payload":{"n":%d}}`+"\n", i*5+j)
			}
			buf = fmt.Appendf(buf, `{"t":"write","topic":"soak.b","payload":{"n":%d}}`+"\n", i)
			if _, err := wc.Write(buf); err != nil {
				return
			}
		}
	}()
	sample := func() (heap float64, rss int64) {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.gc === "function" && (window.gc(), true)`)); err != nil {
			t.Fatal(err)
		}
		h, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.memory.usedJSHeapSize`))
		if err != nil {
			t.Fatal(err)
		}
		return h, p.rss(t)
	}
	time.Sleep(min(d/10, time.Minute)) // warm-up
	heap0, rss0 := sample()
	every := d / 10
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(min(every, time.Until(end)))
		heap, rss := sample()
		t.Logf("JS heap %.1f MiB (start %.1f), host RSS %.1f MiB (start %.1f)", heap/(1<<20), heap0/(1<<20), float64(rss)/(1<<20), float64(rss0)/(1<<20))
	}
	heap, rss := sample()
	if heap > heap0*1.5 || float64(rss) > float64(rss0)*1.5 {
		t.Errorf("memory grew: JS heap %.1f -> %.1f MiB, host RSS %.1f -> %.1f MiB", heap0/(1<<20), heap/(1<<20), float64(rss0)/(1<<20), float64(rss)/(1<<20))
	}
}
