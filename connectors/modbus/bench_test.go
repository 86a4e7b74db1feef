package modbus_test

import (
	"context"
	"github.com/aimdb-dev/aimdb-go/internal/cputime"
	"strconv"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/aimdb-dev/aimdb-go/connectors/modbus/modbustest"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// BenchmarkWrite writes one holding register per request to modbus-serial's TCP
// server: through the connector (a prepared link_to, batches of 64 values, each
// value one FC 6 request) and with a bare simonvetter/modbus client in the same
// run. req/s is requests answered per second; cpu-us/req is this process's CPU time
// per request (the Node server's is not counted). The server, one Node process, is
// the bottleneck of both.
func BenchmarkWrite(b *testing.B) {
	modbustest.Require(b)
	s := modbustest.StartTCP(b)
	b.Run("connector", func(b *testing.B) {
		inst, _ := start(b, s.URL(), sdk.Config{}, nil, []sdk.LinkSpec{{Resource: "holding/0"}})
		const batch = 64
		payloads := make([][]byte, batch)
		errs := make([]error, batch)
		measure(b, func(n int) {
			for i := 0; i < n; i += batch {
				k := min(batch, n-i)
				for j := range k {
					payloads[j] = strconv.AppendInt(payloads[j][:0], int64((i+j)%60000), 10)
				}
				inst.PublishBatch(context.Background(), 1, 1, payloads[:k], errs[:k])
				for _, err := range errs[:k] {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	})
	b.Run("bare-simonvetter", func(b *testing.B) {
		cl, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + s.URL()[len("modbus://"):], Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.Open(); err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		measure(b, func(n int) {
			for i := 0; i < n; i++ {
				if err := cl.WriteRegister(0, uint16(i%60000)); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// measure runs f(b.N) and reports requests per second and CPU per request.
func measure(b *testing.B, f func(n int)) {
	b.ResetTimer()
	cpu0, t0 := cputime.Self(), time.Now()
	f(b.N)
	elapsed, cpu := time.Since(t0), cputime.Self()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/req")
}
