//go:build linux

package rawio

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/cputime"
)

// pacerEnv makes the test binary the pacer of BenchmarkPacedEcho: it connects to the
// unix socket named there and sends a message every 200 µs, reading each echo.
const pacerEnv = "RAWIO_BENCH_PACER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(pacerEnv); addr != "" {
		os.Exit(pace(addr))
	}
	os.Exit(m.Run())
}

// pace is the pacer process: count messages of 100 bytes, one every 200 µs.
func pace(addr string) int {
	count, _ := strconv.Atoi(os.Getenv(pacerEnv + "_COUNT"))
	c, err := net.Dial("unix", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	msg, back := make([]byte, 100), make([]byte, 100)
	next := time.Now()
	for range count {
		if _, err := c.Write(msg); err != nil {
			return 1
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return 1
		}
		next = next.Add(200 * time.Microsecond)
		time.Sleep(time.Until(next))
	}
	return 0
}

// BenchmarkPacedEcho: what a plugin does at a steady rate. Another process sends a
// 100-byte message over a unix socket every 200 µs (5,000/s) and this one echoes it,
// idle in between, as a plugin is between messages. net is the net package's
// connection, rawio the same socket wrapped; side by side in the same run.
// cpu-µs/msg and ctxsw/msg are this process's CPU time and context switches per
// message (getrusage): the runtime's monitor thread, woken by each system call made
// the usual way after an idle spell, shows in both. Run it with -cpu 1, as plugins run.
func BenchmarkPacedEcho(b *testing.B) {
	for _, side := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"net", func(c net.Conn) net.Conn { return c }},
		{"rawio", Wrap},
	} {
		b.Run(side.name, func(b *testing.B) {
			addr := filepath.Join(b.TempDir(), "s")
			l, err := net.Listen("unix", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			pacer := exec.Command(os.Args[0], "-test.run=^$")
			pacer.Env = append(os.Environ(), pacerEnv+"="+addr, pacerEnv+"_COUNT="+strconv.Itoa(b.N))
			pacer.Stderr = os.Stderr
			if err := pacer.Start(); err != nil {
				b.Fatal(err)
			}
			defer pacer.Wait()
			c, err := l.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			conn := side.wrap(c)
			buf := make([]byte, 100)
			b.ResetTimer()
			cpu0, sw0 := cputime.Self(), switches()
			for range b.N {
				if _, err := io.ReadFull(conn, buf); err != nil {
					b.Fatal(err)
				}
				if _, err := conn.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			cpu, sw := cputime.Self()-cpu0, switches()-sw0
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
			b.ReportMetric(float64(sw)/float64(b.N), "ctxsw/msg")
		})
	}
}

// switches is the number of context switches of this process so far.
func switches() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Nvcsw) + int64(ru.Nivcsw)
}
