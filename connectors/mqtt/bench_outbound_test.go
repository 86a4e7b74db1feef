package mqtt_test

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client/clienttest"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// outTopic is the destination of the outbound benchmarks.
const outTopic = "bench/out"

// BenchmarkPluginOutboundQoS1 measures one QoS 1 destination: b.N sequence-numbered
// 64-byte values published in batches to one link_to, every publish result awaited
// (a result comes only after the broker's PUBACK), and the run ends when a counting
// subscriber (mosquitto_sub, its own process) has every value. Side by side:
//
//   - bare: a plain paho.mqtt.golang client publishing pipelined, batch publishes in
//     flight, the baseline of one MQTT 3.1.1 connection;
//   - inprocess: the connector linked into this process, each batch through
//     run.Instance.PublishBatch one after another, as the SDK's link worker calls it;
//   - plugin: the real plugin process (plugins/mqtt, GOMAXPROCS=1 as the host starts
//     it) fed by the host's own wire client, which keeps up to MaxBatchesInFlight
//     batches of the link in flight, as the host's link pump does.
//
// cpu-ns/msg is this process's CPU time, plus the plugin's for the plugin side, per
// value; mosquitto and the subscriber are not in it (reading the subscriber's output
// is, equally on every side): their CPU time is peer-cpu-ns/msg, which shows how much
// of the machine is left. A lost value fails the benchmark; dups counts values that
// arrived more than once.
func BenchmarkPluginOutboundQoS1(b *testing.B) {
	dir := b.TempDir()
	if err := testbuild.Packages(dir, "./plugins/mqtt"); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "mqtt")
	for _, batch := range []int{64, pluginwire.MaxBatchMessages} {
		b.Run(fmt.Sprintf("batch=%d/bare", batch), func(b *testing.B) {
			benchOutbound(b, batch, bareOutbound)
		})
		for _, protocol := range []string{"3.1.1", "5"} {
			opts := sdk.Config{"protocol": protocol}
			b.Run(fmt.Sprintf("batch=%d/protocol=%s/inprocess", batch, protocol), func(b *testing.B) {
				benchOutbound(b, batch, func(b *testing.B, broker *mqtttest.Mosquitto) outboundSide {
					return inprocessOutbound(b, broker, opts)
				})
			})
			b.Run(fmt.Sprintf("batch=%d/protocol=%s/plugin", batch, protocol), func(b *testing.B) {
				benchOutbound(b, batch, func(b *testing.B, broker *mqtttest.Mosquitto) outboundSide {
					return pluginOutbound(b, bin, broker, opts)
				})
			})
		}
	}
}

// outboundSide is one way of publishing to outTopic.
type outboundSide struct {
	// publish publishes values in order, in batches of batch (the bare client: with
	// batch in flight), waits for every result and returns how many failed.
	publish func(values [][]byte, batch int) int
	// pid is a further process whose CPU time counts, or 0.
	pid int
}

// benchOutbound runs one side against a fresh broker and a counting subscriber.
func benchOutbound(b *testing.B, batch int, start func(*testing.B, *mqtttest.Mosquitto) outboundSide) {
	broker := mqtttest.StartMosquitto(b, mqtttest.Options{Quiet: true, Extra: "max_queued_messages 0"})
	counter := startCounter(b, broker, b.N)
	side := start(b, broker)
	values := make([][]byte, b.N)
	for i := range values {
		values[i] = fmt.Appendf(make([]byte, 0, 64), "%-64d", i)
	}
	cpu := func() time.Duration {
		if side.pid != 0 {
			return cputime.Self() + cputime.Process(side.pid)
		}
		return cputime.Self()
	}
	peers := func() time.Duration { return cputime.Process(broker.Pid()) + cputime.Process(counter.pid) }
	cpu0, peers0 := cpu(), peers()
	b.ResetTimer()
	begin := time.Now()
	failed := side.publish(values, batch)
	if failed > 0 {
		b.Fatalf("%d of %d publishes failed", failed, b.N)
	}
	select {
	case <-counter.all:
	case <-time.After(30 * time.Second): // what has not arrived by now counts as lost
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	used, peersUsed := cpu()-cpu0, peers()-peers0
	if lost := b.N - int(counter.distinct.Load()); lost > 0 {
		b.Fatalf("sent %d, arrived %d, lost %d, duplicated %d", b.N, counter.distinct.Load(), lost, counter.dups.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/msg")
	b.ReportMetric(float64(peersUsed.Nanoseconds())/float64(b.N), "peer-cpu-ns/msg")
	b.ReportMetric(float64(counter.dups.Load()), "dups")
}

// counter counts the values arriving on outTopic by sequence number.
type counter struct {
	mu       sync.Mutex
	seen     []uint8
	distinct atomic.Int64
	dups     atomic.Int64
	all      chan struct{} // closed when every value arrived
	pid      int           // mosquitto_sub's
}

// startCounter subscribes mosquitto_sub at QoS 1 to outTopic and returns once it is
// subscribed: it has printed the retained marker published before it started.
func startCounter(b *testing.B, broker *mqtttest.Mosquitto, n int) *counter {
	b.Helper()
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		b.Skip("mosquitto_sub not found: install mosquitto-clients")
	}
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		b.Skip("mosquitto_pub not found: install mosquitto-clients")
	}
	port := strconv.Itoa(broker.Port)
	if out, err := exec.Command(pub, "-h", "127.0.0.1", "-p", port, "-t", outTopic, "-q", "1", "-r", "-m", "ready").CombinedOutput(); err != nil {
		b.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	cmd := exec.Command(sub, "-h", "127.0.0.1", "-p", port, "-t", outTopic, "-q", "1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := &counter{seen: make([]uint8, n), all: make(chan struct{}), pid: cmd.Process.Pid}
	ready := make(chan struct{})
	go func() {
		s := bufio.NewScanner(stdout)
		if !s.Scan() || s.Text() != "ready" {
			return // the wait for ready fails the benchmark
		}
		close(ready)
		for s.Scan() {
			c.add(s.Bytes())
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		b.Fatal("mosquitto_sub did not print the retained marker within 10 s")
	}
	return c
}

// add counts one arrived line: a sequence number padded with spaces.
func (c *counter) add(line []byte) {
	end := 0
	for end < len(line) && line[end] != ' ' {
		end++
	}
	i, err := strconv.Atoi(string(line[:end]))
	if err != nil || i < 0 || i >= len(c.seen) {
		c.dups.Add(1) // nothing else is published here: count it against the run
		return
	}
	c.mu.Lock()
	c.seen[i]++
	first := c.seen[i] == 1
	c.mu.Unlock()
	if !first {
		c.dups.Add(1)
		return
	}
	if c.distinct.Add(1) == int64(len(c.seen)) {
		close(c.all)
	}
}

// bareOutbound is a plain paho.mqtt.golang client publishing pipelined: up to batch
// publishes unacknowledged, the next written as soon as the oldest is acknowledged.
func bareOutbound(b *testing.B, broker *mqtttest.Mosquitto) outboundSide {
	c := mqtttest.Connect(b, broker.Addr, mqtttest.ClientOptions{}).Paho()
	return outboundSide{publish: func(values [][]byte, batch int) int {
		failed := 0
		settle := func(t paho.Token) {
			if t.Wait(); t.Error() != nil {
				failed++
			}
		}
		var window []paho.Token // oldest first
		for _, v := range values {
			if len(window) == batch {
				settle(window[0])
				window = window[1:]
			}
			window = append(window, c.Publish(outTopic, 1, false, v))
		}
		for _, t := range window {
			settle(t)
		}
		return failed
	}}
}

// outboundLink is the one link_to of the connector sides.
var outboundLink = sdk.LinkSpec{ID: 1, Direction: sdk.Outbound, Resource: outTopic, Config: sdk.Config{"qos": "1"}, Record: "bench"}

// inprocessOutbound starts the connector in this process.
func inprocessOutbound(b *testing.B, broker *mqtttest.Mosquitto, opts sdk.Config) outboundSide {
	inst, err := run.Start(context.Background(), mqtt.NewBuilder(), run.Config{
		Name: "bench", URL: sdk.MustParseURL(broker.URL(false)), Options: opts,
		Outbound: []sdk.LinkSpec{outboundLink},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = inst.Close(context.Background()) })
	waitHealthy(b, func(ctx context.Context) error { return inst.Health(ctx) })
	return outboundSide{publish: func(values [][]byte, batch int) int {
		failed := 0
		errs := make([]error, batch)
		for off := 0; off < len(values); off += batch {
			end := min(off+batch, len(values))
			inst.PublishBatch(context.Background(), outboundLink.ID, 0, values[off:end], errs[:end-off])
			for _, err := range errs[:end-off] {
				if err != nil {
					failed++
				}
			}
		}
		return failed
	}}
}

// pluginOutbound starts plugins/mqtt through the host's wire client, as the host
// does (no TLS on its unix socket, GOMAXPROCS=1), and builds the instance in it.
func pluginOutbound(b *testing.B, bin string, broker *mqtttest.Mosquitto, opts sdk.Config) outboundSide {
	c, err := client.Launch(context.Background(), bin, client.Options{LogLevel: "error", Env: []string{"GOMAXPROCS=1"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Kill)
	d, err := c.OpenData(client.Handler{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	l := outboundLink
	err = c.Build(context.Background(), client.InstanceSpec{ID: 1, Name: "bench", Scheme: "mqtt", URL: broker.URL(false), Options: opts,
		Links: []client.Link{{ID: l.ID, Direction: l.Direction, Resource: l.Resource, Options: l.Config, Record: l.Record}}})
	if err != nil {
		b.Fatal(err)
	}
	waitHealthy(b, func(ctx context.Context) error { return c.Health(ctx, 1) })
	return outboundSide{pid: c.Pid(), publish: func(values [][]byte, batch int) int {
		f := clienttest.NewFeed(d, l.ID, len(values), batch, func(from, n int) [][]byte { return values[from : from+n] })
		failed, err := f.Run(5 * time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		return failed
	}}
}

// waitHealthy waits up to 10 s for health to pass.
func waitHealthy(b *testing.B, health func(context.Context) error) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := health(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("connector not healthy after 10 s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
