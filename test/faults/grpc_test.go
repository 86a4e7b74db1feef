package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// Sizes of the gRPC test: 3,000 values at 300/s, the server stopped 5 s once 800
// are confirmed.
const (
	grpcValues = 3000
	grpcRate   = 300
	grpcOutage = 5 * time.Second
)

// TestGRPCServerRestart: the gRPC server behind an at-least-once link_to (a unary
// call per value) is stopped in the middle of the stream, its connections closed,
// and started again at the same address 5 s later; every value arrives.
func TestGRPCServerRestart(t *testing.T) {
	t.Parallel() // light (a low rate, mostly waiting): runs beside the other light tests
	srv := grpctest.Start(t)
	arrived := seqload.NewCounter(grpcValues)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	calls := srv.Observe(ctx, "Put")
	go func() {
		for {
			select {
			case c := <-calls:
				_ = arrived.Observe(c.Reading.GetData())
			case <-ctx.Done():
				return
			}
		}
	}()
	listen := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	const link = "g://" + grpctest.Service + "/Put"
	h := startHub(t, fmt.Sprintf(`connector "g" {
  plugin          = "grpc"
  url             = "grpc://%s"
  timeout         = "2s"
  connect_timeout = "1s"
  reconnect_max   = "500ms"
}
connector "hooks" {
  plugin = "http"
  listen = "%s"
}
record "seq" {
  capacity = 8192
  link_from "hooks://in/seq" {}
  link_to "%s" { payload_field = "data" }
}
`, srv.Addr, listen, link), hubOptions{})
	h.waitConnected(15*time.Second, "g")
	fed := feedHTTP(ctx, listen, "in/seq", grpcValues, grpcRate, arrived)

	h.waitLink("seq", link, 30*time.Second, "800 delivered", func(l linkStatus) bool { return l.Stats.Delivered >= 800 })
	srv.Stop()
	t.Logf("server stopped after %d values delivered", h.link("seq", link).Stats.Delivered)
	l := h.waitLink("seq", link, 10*time.Second, "retrying", func(l linkStatus) bool { return l.State == "retrying" })
	t.Logf("during the outage: last error %s: %s", l.LastError.Kind, l.LastError.Text)
	time.Sleep(grpcOutage)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}

	waitFeed(t, fed, time.Minute)
	r := waitArrived(t, arrived, time.Minute, 20*time.Second)
	l = h.link("seq", link)
	t.Logf("link: delivered %d, failed %d, retried %d, dead-lettered %d", l.Stats.Delivered, l.Stats.Failed, l.Stats.Retried, l.Stats.DeadLettered)
	checkCounts(t, "grpc server stopped 5s", r, l.Stats.Retried, l.Stats.Retried)
	if l.Stats.Failed == 0 || l.Stats.DeadLettered != 0 {
		t.Errorf("link failed %d, dead-lettered %d: want failures during the outage and no dead letter", l.Stats.Failed, l.Stats.DeadLettered)
	}
}
