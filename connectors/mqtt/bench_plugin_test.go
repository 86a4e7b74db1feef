package mqtt_test

import (
	"context"
	"fmt"
	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// BenchmarkPluginInboundToOutbound is BenchmarkInboundToOutbound through the real
// plugin process: mosquitto_pub -> mosquitto -> plugins/mqtt -> inbound stream ->
// this process (the stand-in host) -> publish stream -> plugin -> mosquitto. The host
// side is the conformance kit's unsupervised client, which sends one publish per
// batch. cpu-ns/msg adds the plugin process's CPU time to this one's.
func BenchmarkPluginInboundToOutbound(b *testing.B) {
	dir := b.TempDir()
	if err := testbuild.Packages(dir, "./plugins/mqtt"); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "mqtt")
	for _, qos := range []string{"0", "1"} {
		b.Run("qos"+qos, func(b *testing.B) { benchPlugin(b, bin, qos) })
	}
}

func benchPlugin(b *testing.B, bin, qos string) {
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		b.Skip("mosquitto_pub not found: install mosquitto-clients")
	}
	broker := mqtttest.StartMosquitto(b, mqtttest.Options{Quiet: true, Extra: "max_queued_messages 0"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target, err := conformance.LaunchProcess(ctx, bin, conformance.ProcessOptions{LogLevel: "error"})
	if err != nil {
		b.Fatal(err)
	}
	defer target.Kill()
	record := make(chan []byte, b.N+1)
	inst, err := target.Build(ctx, conformance.InstanceSpec{
		Name: "bench", Scheme: "mqtt", URL: broker.URL(false), Options: sdk.Config{"max_inflight": "4096"},
		Links: []conformance.Link{
			{ID: 1, Direction: sdk.Inbound, Resource: "bench/in", Options: sdk.Config{"qos": qos}},
			{ID: 2, Direction: sdk.Outbound, Resource: "bench/out", Options: sdk.Config{"qos": qos}},
		},
		Deliver: func(_ uint32, payload []byte) error {
			select {
			case record <- append([]byte(nil), payload...):
				return nil
			default:
				return sdk.Errorf(sdk.KindBufferFull, "bench record full")
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(context.Background())
	forwarded := make(chan struct{}, b.N+1)
	go func() {
		for {
			select {
			case p := <-record:
				for inst.Publish(ctx, 2, p) != nil && ctx.Err() == nil {
				}
				forwarded <- struct{}{}
			case <-ctx.Done():
				return
			}
		}
	}()

	cmd := exec.Command(pub, "-h", "127.0.0.1", "-p", fmt.Sprint(broker.Port), "-t", "bench/in", "-q", qos, "-l")
	cmd.Stdin = strings.NewReader(strings.Repeat(strings.Repeat("x", 63)+"\n", b.N))
	cpu0 := cputime.Self() + cputime.Process(target.Pid())
	b.ResetTimer()
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	timeout := time.After(2 * time.Minute)
	for i := range b.N {
		select {
		case <-forwarded:
		case <-timeout:
			b.Fatalf("only %d of %d messages forwarded", i, b.N)
		}
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	cpu := cputime.Self() + cputime.Process(target.Pid()) - cpu0
	_ = cmd.Wait()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}
