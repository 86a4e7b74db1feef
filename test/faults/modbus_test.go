package faults

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/modbus/modbustest"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
)

// Sizes of the Modbus test: 600 values at 100/s, the server stopped once 150 have
// arrived and started again 3 s later.
const (
	modbusValues = 600
	modbusRate   = 100
	modbusAfter  = 150
	modbusOutage = 3 * time.Second
)

var (
	modbusPluginOnce sync.Once
	modbusPluginErr  error
)

// buildModbusPlugin adds the Modbus plugin to the suite's plugins folder, built
// aside and moved in whole, so a hub starting meanwhile never sees half a binary.
func buildModbusPlugin(t *testing.T) {
	t.Helper()
	modbusPluginOnce.Do(func() {
		tmp, err := os.MkdirTemp(filepath.Dir(pluginDir), "modbus-")
		if err != nil {
			modbusPluginErr = err
			return
		}
		defer os.RemoveAll(tmp)
		if modbusPluginErr = testbuild.Packages(tmp, "./plugins/modbus"); modbusPluginErr == nil {
			modbusPluginErr = os.Rename(filepath.Join(tmp, "modbus"), filepath.Join(pluginDir, "modbus"))
		}
	})
	if modbusPluginErr != nil {
		t.Fatal(modbusPluginErr)
	}
}

// TestModbusServerRestartedMidStream: the Modbus TCP server (npm's modbus-serial) is
// stopped in the middle of 600 values that an at-least-once link_to writes, one
// uint32 each, to two holding registers, and started again 3 s later; every value
// reaches the server (0 lost), those the link sent again as the only duplicates.
func TestModbusServerRestartedMidStream(t *testing.T) {
	t.Parallel() // light (a low rate, mostly waiting): runs beside the other light tests
	modbustest.Require(t)
	buildModbusPlugin(t)
	peer := modbustest.StartTCP(t)
	listen := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, fmt.Sprintf(`connector "hooks" {
  plugin = "http"
  url    = "http://127.0.0.1:9"
  listen = "%s"
}
connector "plc" {
  plugin        = "modbus"
  url           = "%s"
  timeout       = "500ms"
  reconnect_min = "100ms"
  reconnect_max = "500ms"
  retry_max     = "500ms"
}
record "seq" {
  capacity = 1024
  link_from "hooks://in/seq" {}
  link_to "plc://holding/0:2" { type = "uint32" }
}
`, listen, peer.URL()), hubOptions{})
	h.waitConnected(15*time.Second, "plc")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	arrived := seqload.NewCounter(modbusValues)
	var sentAt [modbusValues]atomic.Int64
	writes, err := peer.Observe(ctx, "1/holding/0:2")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for p := range writes {
			var b [4]byte
			copy(b[:], p) // the peer trims trailing zero bytes
			seq := uint64(binary.BigEndian.Uint32(b[:]))
			if seq < modbusValues {
				arrived.ObserveSeq(seq, sentAt[seq].Load(), time.Now())
			}
		}
	}()
	fed := make(chan error, 1)
	go func() {
		post := newHTTPPoster(listen, "in/seq")
		tick := time.NewTicker(time.Second / modbusRate)
		defer tick.Stop()
		for seq := 0; seq < modbusValues; seq++ {
			<-tick.C
			sentAt[seq].Store(time.Now().UnixNano())
			if err := post.Publish(uint64(seq), []byte(strconv.Itoa(seq))); err != nil {
				fed <- err
				return
			}
			arrived.AddSent(1)
		}
		fed <- nil
	}()

	waitFor(t, 30*time.Second, "150 values written", func() bool { return arrived.Arrived() >= modbusAfter })
	if err := peer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Modbus server stopped after %d values arrived", arrived.Arrived())
	l := h.waitLink("seq", "plc://holding/0:2", 15*time.Second, "retrying", func(l linkStatus) bool {
		return l.State == "retrying" && l.LastError != nil
	})
	t.Logf("during the outage: state %s, last error %s: %s", l.State, l.LastError.Kind, l.LastError.Text)
	time.Sleep(modbusOutage)
	if err := peer.Start(ctx); err != nil {
		t.Fatal(err)
	}

	waitFeed(t, fed, time.Minute)
	r := waitArrived(t, arrived, time.Minute, 10*time.Second)
	l = h.link("seq", "plc://holding/0:2")
	t.Logf("link: delivered %d, failed %d, retried %d, dead-lettered %d", l.Stats.Delivered, l.Stats.Failed, l.Stats.Retried, l.Stats.DeadLettered)
	checkCounts(t, "Modbus server stopped 3s", r, l.Stats.Retried, 0)
	if l.Stats.Failed == 0 || l.Stats.DeadLettered != 0 {
		t.Errorf("link failed %d, dead-lettered %d: want failures during the outage and no dead letter", l.Stats.Failed, l.Stats.DeadLettered)
	}
}
