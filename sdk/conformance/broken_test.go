package conformance_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// brokenFailures is exactly what the broken sample plugin must fail: its stdout
// output, its ignored routes and its hanging Close, and everything that follows from
// them, and nothing else.
var brokenFailures = []string{
	"lifecycle/build-close",
	"lifecycle/close-twice",
	"lifecycle/instances",
	"inbound/routes",
	"inbound/wildcards",
	"shutdown/graceful",
	"resources/fds",
	"resources/goroutines",
	"stdout/silent",
}

func TestBrokenPluginFailsExactlyItsFaults(t *testing.T) {
	peer, err := startUDPPeer()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	rep := conformance.Execute(context.Background(), conformance.Config{
		Plugin:  filepath.Join(pluginDir, "broken"),
		URL:     "broken://" + peer.Addr,
		Options: sdk.Config{"listen": peer.Target},
		Peer:    peer,
		Timeout: 2 * time.Second,
		Cycles:  5,
		Logf:    t.Logf,
	})
	failed := rep.Failed()
	if !slices.Equal(failed, brokenFailures) {
		t.Errorf("failed checks:\n  %s\nwant:\n  %s", strings.Join(failed, "\n  "), strings.Join(brokenFailures, "\n  "))
	}
	// Its one skip is the capability it does not declare.
	for _, res := range rep.Results {
		if res.Status == conformance.Skip && res.Name != "inbound/ack-commit" {
			t.Errorf("unexpected skip %s: %s", res.Name, res.Reason)
		}
	}
	// The reasons say what is wrong.
	for name, want := range map[string]string{
		"stdout/silent":         "broken: building instance",
		"inbound/routes":        "went to route",
		"lifecycle/build-close": "close did not return",
		"shutdown/graceful":     "deadline",
	} {
		if r, _ := rep.Result(name); !strings.Contains(r.Reason, want) {
			t.Errorf("%s: reason %q does not say %q", name, r.Reason, want)
		}
	}
}
