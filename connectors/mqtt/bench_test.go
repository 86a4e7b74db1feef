package mqtt_test

import (
	"bufio"
	"context"
	"fmt"
	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// BenchmarkInboundToOutbound measures MQTT in -> connector -> MQTT out: mosquitto_pub
// (its own process) publishes b.N 64-byte messages to a real mosquitto; the connector
// receives them on a route into a stand-in record (acknowledged at once, as the host
// does), a forwarder standing in for the outbound link publishes each to another
// topic with the same QoS, and the run ends when the broker has taken all b.N. cpu-ns/msg is this process's CPU time (connector, paho,
// forwarder) per message; the broker and the publisher are not in it.
func BenchmarkInboundToOutbound(b *testing.B) {
	for _, qos := range []string{"0", "1"} {
		b.Run("qos"+qos, func(b *testing.B) { benchForward(b, qos) })
	}
}

func benchForward(b *testing.B, qos string) {
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		b.Skip("mosquitto_pub not found: install mosquitto-clients")
	}
	// The broker queues every message for the connector: mosquitto's default of
	// 1000 queued QoS 1 messages per client would drop part of a fast burst.
	broker := mqtttest.StartMosquitto(b, mqtttest.Options{Quiet: true, Extra: "max_queued_messages 0"})
	// The "record": the host acknowledges a value once it holds it, and an outbound
	// link publishes from the record on its own.
	record := make(chan []byte, b.N+1)
	inst, err := run.Start(context.Background(), mqtt.NewBuilder(), run.Config{
		Name: "bench", URL: sdk.MustParseURL(broker.URL(false)), Logger: hclog.NewNullLogger(),
		Options: sdk.Config{"max_inflight": "4096"},
		Routes:  []sdk.Route{{ID: 1, Resource: "bench/in", Config: sdk.Config{"qos": qos}, Record: "bench"}},
		Sink: run.SinkFunc(func(m run.Message, ack func(error)) {
			select {
			case record <- m.Payload:
				ack(nil)
			default:
				ack(sdk.Errorf(sdk.KindBufferFull, "bench record full"))
			}
		}),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(context.Background())
	conn := inst.Connector().(*mqtt.Connector)
	for deadline := time.Now().Add(5 * time.Second); inst.Health(context.Background()) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("connector not healthy")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := sdk.Config{"qos": qos}
	go func() { // the host's outbound link: one publish at a time, in order
		for {
			select {
			case p := <-record:
				for inst.Publish(ctx, "bench/out", out, p) != nil && ctx.Err() == nil {
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	line := strings.Repeat("x", 63) + "\n"
	cmd := exec.Command(pub, "-h", "127.0.0.1", "-p", fmt.Sprint(broker.Port), "-t", "bench/in", "-q", qos, "-l")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	before := conn.Stats().Published
	cpu0 := cputime.Self()
	b.ResetTimer()
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(stdin, 1<<16)
	for range b.N {
		w.WriteString(line)
	}
	w.Flush()
	stdin.Close()
	want := before + uint64(b.N)
	deadline := time.Now().Add(time.Minute)
	for conn.Stats().Published < want {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d messages forwarded (stats %+v)", conn.Stats().Published-before, b.N, conn.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	cpu := cputime.Self() - cpu0
	_ = cmd.Wait()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}
