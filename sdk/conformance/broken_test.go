package conformance_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/testplugins/line"
	"github.com/aimdb-dev/aimdb-go/internal/testport"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// faultFailures is, for each fault of the line connector, exactly the checks the
// plugin with that fault must fail: its own check, and for the faults that break
// more than one promise, what follows from them.
var faultFailures = map[line.Fault][]string{
	line.NoResubscribe:    {"outage/inbound"},
	line.LeakPerReconnect: {"outage/reconnects"},
	line.NoBackoff:        {"outage/backoff"},
	line.IgnoreCtx:        {"publish/deadline"},
	line.AckFirst:         {"inbound/ack-commit"},
	line.Stdout:           {"stdout/silent"},
	line.BlockWhileDown:   {"outage/down"},
	line.HealthyWhileDown: {"outage/health"},
	line.Misroute:         {"inbound/routes", "inbound/wildcards"},
	line.CloseHangs: {"lifecycle/build-close", "lifecycle/close-twice", "lifecycle/instances",
		"shutdown/graceful", "resources/fds", "resources/goroutines"},
}

// inProcessFailures is the same for the faults that show only in-process.
var inProcessFailures = map[line.Fault][]string{
	line.ReusePayload: {"inbound/payload-kept"},
}

// lineConfig is the kit's configuration for the line connector with fault, against
// a fresh line server (the TCP example's peer program); in-process when inProcess
// is set.
func lineConfig(t *testing.T, fault line.Fault, inProcess bool) conformance.Config {
	t.Helper()
	addr := testport.Addr(t)
	peer, stop, err := conformance.ExecPeer(context.Background(), []string{linePeer, addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cfg := conformance.Config{
		Plugin:  filepath.Join(pluginDir, "line"),
		Options: sdk.Config{line.FaultOption: string(fault)},
		URL:     "line://" + addr,
		Peer:    peer,
		Timeout: 3 * time.Second,
		Cycles:  5,
		Logf:    t.Logf,
	}
	if inProcess {
		cfg.Plugin, cfg.Builder = "", line.NewBuilder()
	}
	return cfg
}

// wantSkips are the checks the line connector skips: in a plugin process the
// payload check (which needs the in-process target), and outage/backoff after a
// close hung (the hung instances' attempts cannot be told apart); in-process the
// checks that need a plugin process.
func wantSkips(inProcess bool, fault line.Fault) []string {
	if !inProcess {
		if fault == line.CloseHangs {
			return []string{"inbound/payload-kept", "outage/backoff"}
		}
		return []string{"inbound/payload-kept"}
	}
	return []string{"handshake/start", "handshake/wrong-cookie", "handshake/version", "outage/reconnects",
		"panic/exit-detected", "shutdown/graceful", "shutdown/sigterm", "shutdown/host-dies",
		"resources/fds", "resources/goroutines", "stdout/silent"}
}

// expectFailures runs the kit and checks it failed exactly want and skipped only
// what the run cannot check.
func expectFailures(t *testing.T, cfg conformance.Config, fault line.Fault, inProcess bool, want []string) {
	t.Helper()
	rep := conformance.Execute(context.Background(), cfg)
	if failed := rep.Failed(); !slices.Equal(failed, want) {
		var reasons []string
		for _, name := range failed {
			r, _ := rep.Result(name)
			reasons = append(reasons, name+": "+r.Reason)
		}
		t.Errorf("failed checks:\n  %s\nwant:\n  %s", strings.Join(reasons, "\n  "), strings.Join(want, "\n  "))
	}
	skips := wantSkips(inProcess, fault)
	for _, res := range rep.Results {
		if res.Status == conformance.Skip && !slices.Contains(skips, res.Name) {
			t.Errorf("unexpected skip %s: %s", res.Name, res.Reason)
		}
	}
}

// TestLineConnectorPasses runs the kit against the line connector without a fault,
// as a plugin and in-process: a correct connector passes every check.
func TestLineConnectorPasses(t *testing.T) {
	t.Parallel()
	for _, inProcess := range []bool{false, true} {
		t.Run(map[bool]string{false: "plugin", true: "in-process"}[inProcess], func(t *testing.T) {
			t.Parallel()
			expectFailures(t, lineConfig(t, line.None, inProcess), line.None, inProcess, nil)
		})
	}
}

// TestBrokenConnectorsFailTheirChecks runs the kit against the line connector with
// each fault: it fails exactly the fault's checks, and its reason says what is
// wrong.
func TestBrokenConnectorsFailTheirChecks(t *testing.T) {
	t.Parallel()
	for _, f := range line.Faults {
		want, inProcess := faultFailures[f], false
		if w, ok := inProcessFailures[f]; ok {
			want, inProcess = w, true
		}
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			expectFailures(t, lineConfig(t, f, inProcess), f, inProcess, want)
		})
	}
}
