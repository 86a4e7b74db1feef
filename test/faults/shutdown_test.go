package faults

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
)

// backlogValues is the backlog a SIGTERM finds in the record.
const backlogValues = 20000

// TestSigtermToProcessGroupDrainsBacklog: 20,000 values wait in the record while the
// path to the out broker is cut; the path comes back and, at once, SIGTERM goes to
// aimdb's whole process group (what a terminal's Ctrl-C or systemd's control-group
// kill does). The plugins are not in that group and are not restarted; the host
// drains the backlog within --drain 30s and exits 0; every value arrives.
func TestSigtermToProcessGroupDrainsBacklog(t *testing.T) {
	b := startBridge(t, bridgeOptions{record: "capacity = 32768", outProxy: true, values: backlogValues,
		hub: hubOptions{Drain: 30 * time.Second}})
	b.proxy.Block()
	b.feed()
	waitFeed(t, b.fed, time.Minute)
	l := b.h.waitLink("seq", "out://out/seq", time.Minute, "holding the backlog", func(l linkStatus) bool {
		return b.h.link("seq", "in://in/seq").Stats.Received == backlogValues && l.State == "retrying"
	})
	t.Logf("backlog: %d values in the record, %d in flight, %d delivered", l.Backlog, l.InFlight, l.Stats.Delivered)
	plugin := b.h.connector("out").Pid

	b.proxy.Unblock()
	start := time.Now()
	b.h.signalGroup(syscall.SIGTERM)
	code := b.h.wait(45 * time.Second)
	t.Logf("aimdb exited with status %d %v after SIGTERM to its process group", code, time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	logs := b.h.logs.String()
	for _, bad := range []string{"plugin stopped; restarting it", "crash loop", "undelivered"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log says %q", bad)
		}
	}
	waitGone(t, plugin, 10*time.Second, "the plugin after the host exited")
	r := waitArrived(t, b.arrived, 30*time.Second, 5*time.Second)
	// Only values a link sent and had not seen confirmed can go twice (it resends them
	// after the cut): at most its read-ahead window.
	const window = pluginwire.MaxBatchesInFlight * pluginwire.MaxBatchMessages
	checkCounts(t, "SIGTERM during a backlog", r, window, 0)
}
