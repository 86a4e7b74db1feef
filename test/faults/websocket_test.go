package faults

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/connectors/websocket/wstest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
)

// Sizes of the WebSocket test: 3,000 values at 300/s, the server down 5 s once 1,000
// arrived.
const (
	wsValues = 3000
	wsRate   = 300
	wsOutage = 5 * time.Second
)

var wsPlugin struct {
	once sync.Once
	err  error
}

// buildWebSocketPlugin adds the WebSocket plugin to the suite's plugins, once.
func buildWebSocketPlugin(t *testing.T) {
	t.Helper()
	wsPlugin.once.Do(func() { wsPlugin.err = testbuild.Packages(pluginDir, "./plugins/websocket") })
	if wsPlugin.err != nil {
		t.Fatal(wsPlugin.err)
	}
}

// TestWebSocketServerRestart: the WebSocket server (node-ws) is stopped in the
// middle of an at-least-once link_to stream and started again 5 s later; every value
// arrives at the server (confirm pings make the connector send again whatever the
// server did not read), in order but for the values sent again.
func TestWebSocketServerRestart(t *testing.T) {
	t.Parallel() // light (a low rate, mostly waiting): runs beside the other light tests
	buildWebSocketPlugin(t)
	server := wstest.Start(t, wstest.Options{})
	arrived := seqload.NewCounter(wsValues)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	frames := server.Subscribe(ctx, func(ev wstest.Event) bool { return ev.Event == "message" && ev.Path == "/out/seq" })
	go func() {
		for ev := range frames {
			_ = arrived.Observe(ev.Data)
		}
	}()
	listen := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, fmt.Sprintf(`connector "ws" {
  plugin        = "websocket"
  url           = "%s"
  reconnect_max = "500ms"
  ping_interval = "1s"
  pong_timeout  = "1s"
  retry_max     = "500ms"
}
connector "hooks" {
  plugin = "http"
  listen = "%s"
}
record "seq" {
  capacity = 8192
  link_from "hooks://in/seq" {}
  link_to "ws://out/seq" {}
}
`, server.URL("ws", ""), listen), hubOptions{})
	h.waitConnected(15*time.Second, "ws")
	fed := feedHTTP(ctx, listen, "in/seq", wsValues, wsRate, arrived)

	waitFor(t, 30*time.Second, "1000 values arrived", func() bool { return arrived.Arrived() >= 1000 })
	if err := server.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("server stopped after %d values arrived", arrived.Arrived())
	l := h.waitLink("seq", "ws://out/seq", 15*time.Second, "retrying", func(l linkStatus) bool { return l.State == "retrying" })
	t.Logf("during the outage: last error %s: %s", l.LastError.Kind, l.LastError.Text)
	time.Sleep(wsOutage)
	if err := server.Start(ctx); err != nil {
		t.Fatal(err)
	}

	waitFeed(t, fed, time.Minute)
	r := waitArrived(t, arrived, time.Minute, 20*time.Second)
	l = h.link("seq", "ws://out/seq")
	t.Logf("link: delivered %d, failed %d, retried %d, dead-lettered %d", l.Stats.Delivered, l.Stats.Failed, l.Stats.Retried, l.Stats.DeadLettered)
	checkCounts(t, "websocket server stopped 5s", r, l.Stats.Retried, l.Stats.Retried)
	if l.Stats.Failed == 0 || l.Stats.DeadLettered != 0 {
		t.Errorf("link failed %d, dead-lettered %d: want failures during the outage and no dead letter", l.Stats.Failed, l.Stats.DeadLettered)
	}
}
