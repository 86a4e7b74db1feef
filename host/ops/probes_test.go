package ops

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// TestReadinessReasons: /readyz names a failing link as a reason of its own (link,
// record, direction, state, its last error); a link that is only retrying behind a
// connected instance is no reason; a link that is ok neither.
func TestReadinessReasons(t *testing.T) {
	rep := &reporter{}
	rep.failPublish(sdk.Errorf(sdk.KindTimeout, "the test's peer does not answer"))
	h := startHub(t, `
connector "lb" {
  plugin           = "loopback"
  inject           = "none"
  fail_destination = "bad"
}
connector "rep" {
  retry_min = "20ms"
  retry_max = "50ms"
}
record "r.bad" {
  writable = true
  link_to "lb://bad" {}
}
record "r.slow" {
  writable = true
  link_to "rep://x" {}
}
record "r.ok" {
  writable = true
  link_to "lb://ok" {}
}
`, Options{}, connect.WithConnector(loopback.NewBuilder()), connect.WithConnector(rep))
	for _, k := range []string{"r.bad", "r.slow", "r.ok"} {
		if err := h.db.SetJSON(k, json.RawMessage(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	states := func() map[string]connect.LinkState {
		out := map[string]connect.LinkState{}
		for _, l := range connect.Of(h.db).Links() {
			out[l.URL] = l.State
		}
		return out
	}
	eventually(t, 10*time.Second, "links failing, retrying, ok; instances connected", func() bool {
		s := states()
		for _, c := range connect.Of(h.db).Connectors() {
			if c.State != "connected" {
				return false
			}
		}
		return s["lb://bad"] == connect.StateFailing && s["rep://x"] == connect.StateRetrying && s["lb://ok"] == connect.StateOK
	})
	code, body := get(t, h.base+"/readyz")
	var r Readiness
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/readyz: %v\n%s", err, body)
	}
	if code != http.StatusServiceUnavailable || r.Ready || len(r.Reasons) != 1 {
		t.Fatalf("/readyz: %d %s; want 503 with one reason, the failing link", code, body)
	}
	want := Reason{Link: "lb://bad", Record: "r.bad", Direction: "link_to", State: "failing"}
	got := r.Reasons[0]
	detail := got.Detail
	got.Detail = ""
	if got.Connector != "" || got.Link != want.Link || got.Record != want.Record || got.Direction != want.Direction ||
		got.State != want.State || len(got.Links) != 0 || !strings.Contains(detail, "invalid destination") {
		t.Errorf("reason %+v (detail %q), want %+v with the last error", got, detail, want)
	}
	if s := states(); s["rep://x"] != connect.StateRetrying {
		t.Fatalf("rep://x is %s by the end, not retrying: the check above proves nothing", s["rep://x"])
	}
	rep.failPublish(nil) // the value goes out before the hub stops
	eventually(t, 10*time.Second, "rep://x delivers", func() bool { return states()["rep://x"] == connect.StateOK })
}
