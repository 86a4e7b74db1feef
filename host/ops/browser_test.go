package ops

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
)

// chromiumFlags are the flags the browser test runs Debian's chromium with.
var chromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("headless", "new"),
	chromedp.NoSandbox,
	chromedp.DisableGPU,
	chromedp.Flag("disable-background-networking", true),
	chromedp.NoFirstRun,
	chromedp.NoDefaultBrowserCheck,
	chromedp.WindowSize(1400, 1000),
}

// demoAgainst returns the demo configuration (cmd/aimdb/demo.hcl) with its MQTT
// connector pointed at broker instead of its embedded broker, and its HTTP connector
// on httpAddr, so the test can stop the broker.
func demoAgainst(t *testing.T, broker, httpAddr string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "cmd", "aimdb", "demo.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for _, r := range []struct{ old, new string }{
		{`"mqtt://127.0.0.1:18830"`, fmt.Sprintf("%q", broker)},
		{`embedded_broker = "127.0.0.1:18830"`, ""},
		{"127.0.0.1:18080", httpAddr},
	} {
		if !strings.Contains(src, r.old) {
			t.Fatalf("demo.hcl no longer holds %s: update demoAgainst", r.old)
		}
		src = strings.ReplaceAll(src, r.old, r.new)
	}
	return src
}

// TestDashboardInBrowser drives Debian's chromium headless against the demo
// configuration: the page loads with no console errors; a value set with `aimdb
// record set` appears within a second; a value typed into the page's editor reaches
// the record; stopping the broker turns the link's row to retrying. Screenshots go to
// the test's temp dir (and to $AIMDB_SCREENSHOT_DIR when set: docs/dashboard.png).
func TestDashboardInBrowser(t *testing.T) {
	chromium := findChromium(t)
	mosq := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true})
	httpAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	p := startAimdb(t, demoAgainst(t, mosq.URL(false), httpAddr))
	cl := p.client(t)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir())}, chromiumFlags...)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m))
				mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(chromedp.CSS("#conn.conn-up"))); err != nil {
		t.Fatal(err)
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	waitPage := func(what, js, want string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			got := eval(js)
			if strings.Contains(got, want) {
				return time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("%s: the page shows %q, want %q within %v", what, got, want, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cell := func(row, col string) string {
		return fmt.Sprintf(`(document.querySelector('%s %s') || {textContent: ''}).textContent`, row, col)
	}
	lightLink := `tr[data-link="mqtt://demo/light/set"]`
	waitPage("link row", cell(lightLink, ".state"), "ok", 10*time.Second)
	waitPage("connector row", cell(`tr[data-connector="mqtt"]`, ".state"), "connected", 10*time.Second)

	// A value set with the CLI appears on the page within a second.
	out, err := exec.Command(aimdbBin, "record", "set", "demo.light", `{"on":false,"level":42}`, "--connect", p.control).CombinedOutput()
	if err != nil {
		t.Fatalf("aimdb record set: %v: %s", err, out)
	}
	took := waitPage("value set with aimdb record set", cell(`tr[data-record="demo.light"]`, ".value"), `"level":42`, time.Second)
	t.Logf("a value set with aimdb record set was on the page %v after the command returned", took.Round(time.Millisecond))

	// A value typed into the editor reaches the record.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("edit-key"), "demo.light"),
		chromedp.SendKeys(chromedp.ID("edit-value"), `{"on":true,"from":"browser"}`),
		chromedp.WaitEnabled(chromedp.ID("edit-set")),
		chromedp.Click(chromedp.ID("edit-set")),
	); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the editor's value in the record", func() bool {
		v, err := cl.Get(ctx, "demo.light")
		return err == nil && string(v) == `{"on":true,"from":"browser"}`
	})
	waitPage("editor message", `document.getElementById('edit-msg').textContent`, "set demo.light", 5*time.Second)

	// Temperatures posted to the HTTP connector, and one that is not JSON: its dead
	// letter shows in the tail.
	for _, v := range []string{"21.5", "21.75", "not json"} {
		resp, err := http.Post("http://"+httpAddr+"/sensors/temp", "application/json", strings.NewReader(v))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitPage("posted temperature", cell(`tr[data-record="sensors.temp"]`, ".value"), "21.75", 5*time.Second)
	waitPage("dead-letter tail", `document.getElementById('dead').textContent`, "payload=not json", 5*time.Second)
	waitPage("delivered counter", cell(`tr[data-link="mqtt://demo/sensors/temp"]`, "td:nth-child(5)"), "2", 5*time.Second)
	shot(t, ctx, "dashboard.png")

	// Broker down: the next value cannot go out and the link's row turns to retrying.
	mosq.Stop()
	if out, err := exec.Command(aimdbBin, "record", "set", "demo.light", `{"on":false}`, "--connect", p.control).CombinedOutput(); err != nil {
		t.Fatalf("aimdb record set: %v: %s", err, out)
	}
	waitPage("link row during the outage", cell(lightLink, ".state"), "retrying", 15*time.Second)
	if cls := eval(fmt.Sprintf(`document.querySelector('%s .state').className`, lightLink)); !strings.Contains(cls, "state-retrying") {
		t.Errorf("retrying row has class %q", cls)
	}
	shot(t, ctx, "dashboard-outage.png")
	mosq.Start()
	waitPage("link row after the outage", cell(lightLink, ".state"), "ok", 20*time.Second)

	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(problems, "\n"))
	}
}

// shot saves a full-page screenshot under the test's temp dir and logs its path; with
// $AIMDB_SCREENSHOT_DIR set it also writes it there.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if dir := os.Getenv("AIMDB_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// findChromium returns Debian's chromium, skipping the test without it (failing it
// when CI=true).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium not found: install Debian's chromium package to run the browser test"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
