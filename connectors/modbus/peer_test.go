package modbus_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/modbus/modbustest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// set stores registers (or bits, as 1 and 0) on the server.
func set(t *testing.T, s *modbustest.Server, unit int, table string, addr int, vals ...uint16) {
	t.Helper()
	if err := s.Set(context.Background(), unit, table, addr, vals); err != nil {
		t.Fatal(err)
	}
}

// TestReadDecodesTypes: values the server holds reach the routes as JSON, decoded by
// type, word_order, byte_order, scale and offset, from every table.
func TestReadDecodesTypes(t *testing.T) {
	modbustest.Require(t)
	s := modbustest.StartTCP(t)
	set(t, s, 1, "holding", 0, 0xFFFB)                 // int16 -5
	set(t, s, 1, "holding", 1, 0xFFFE, 0x7960)         // int32 -100000, high word first
	set(t, s, 1, "holding", 3, 0x0000, 0x41AC)         // float32 21.5, low word first
	set(t, s, 1, "holding", 5, 215)                    // uint16 215 * 0.1 - 1
	set(t, s, 1, "holding", 6, 0x4169, 0x6D44, 0x4200) // "AimDB"
	set(t, s, 1, "holding", 10, 7, 8)                  // two uint16
	set(t, s, 1, "holding", 12, 0x3412)                // 0x1234, low byte first
	set(t, s, 1, "input", 0, 0x3FF4, 0, 0, 0)          // float64 1.25
	set(t, s, 1, "coil", 0, 1, 0, 1)                   // three coils
	set(t, s, 1, "discrete", 5, 1)                     // one discrete input
	set(t, s, 2, "holding", 0, 1, 0)                   // uint32 1, low word first, unit 2
	set(t, s, 1, "holding", 20, 0x8000, 0, 0, 1)       // int64 -2^63+1
	routes := map[string]sdk.Config{
		"holding/0":     {"type": "int16"},
		"holding/1":     {"type": "int32"},
		"holding/3":     {"type": "float32", "word_order": "little"},
		"holding/5":     {"scale": "0.1", "offset": "-1"},
		"holding/6:4":   {"type": "string"},
		"holding/10:2":  {},
		"holding/12":    {"byte_order": "little"},
		"input/0":       {"type": "float64"},
		"coil/0:3":      {},
		"discrete/5":    {},
		"2/holding/0":   {"type": "uint32", "word_order": "little"},
		"1/holding/20":  {"type": "int64"},
		"holding/30:2":  {"type": "bool"},
		"holding/40:10": {"type": "raw"},
	}
	_, b := start(t, s.URL(), sdk.Config{}, routes, nil)
	want := map[string]string{
		"holding/0":     "-5",
		"holding/1":     "-100000",
		"holding/3":     "21.5",
		"holding/5":     "20.5",
		"holding/6:4":   `"AimDB"`,
		"holding/10:2":  "[7,8]",
		"holding/12":    "4660",
		"input/0":       "1.25",
		"coil/0:3":      "[true,false,true]",
		"discrete/5":    "true",
		"2/holding/0":   "1",
		"1/holding/20":  "-9223372036854775807",
		"holding/30:2":  "[false,false]",
		"holding/40:10": "",
	}
	for topic, v := range want {
		b.waitFor(t, topic, v)
	}
}

// TestFiftyRegistersOneRequest: 40 link_from links covering 50 neighbouring holding
// registers (30 uint16, 10 int32) of one unit are read with ONE request per poll;
// a gap, another unit and another table each add one.
func TestFiftyRegistersOneRequest(t *testing.T) {
	modbustest.Require(t)
	s := modbustest.StartTCP(t)
	routes := map[string]sdk.Config{}
	for a := 0; a < 30; a++ {
		routes[fmt.Sprintf("holding/%d", a)] = sdk.Config{"poll": "1h"}
	}
	for a := 30; a < 50; a += 2 {
		routes[fmt.Sprintf("holding/%d", a)] = sdk.Config{"type": "int32", "poll": "1h"}
	}
	inst, b := start(t, s.URL(), sdk.Config{}, routes, nil)
	for r := range routes {
		b.waitAny(t, r)
	}

	if got := settledReads(t, s, inst); got != 1 {
		t.Errorf("the server answered %d read requests for 50 neighbouring registers in one poll; want 1", got)
	}
	t.Logf("50 registers in 40 links: %d read request(s) per poll (%v requests sent in all)", s.Reads(), metric(inst, "modbus_requests_total"))

	s2 := modbustest.StartTCP(t)
	routes = map[string]sdk.Config{
		"holding/0:50":   {"poll": "1h"},
		"holding/60":     {"poll": "1h"}, // a gap of 10: its own request
		"2/holding/0":    {"poll": "1h"}, // another unit
		"input/0:2":      {"poll": "1h"}, // another table
		"holding/50:10":  {"poll": "1h"}, // fills the gap: merged with 0:50
		"holding/100:80": {"poll": "1h"}, // 125 registers at most per request
		"holding/180:50": {"poll": "1h"},
	}
	inst, b = start(t, s2.URL(), sdk.Config{}, routes, nil)
	for r := range routes {
		b.waitAny(t, r)
	}
	if got := settledReads(t, s2, inst); got != 5 {
		t.Errorf("read requests: %d, want 5 (holding 0..60, holding 100..179, holding 180..229, unit 2, input)", got)
	}
}

// settledReads is the server's count of read requests of inst's first poll, once the
// server reported all of them. Call it when every link_from link of inst, all polling
// hourly, has a value: a poll hands values on only after every one of its requests was
// answered (poller.poll), so inst's modbus_requests_total then counts the whole first
// poll, extras included, and the next poll is an hour away. The peer reports each
// request on its own output, which may come after the answer the connector used: this
// waits (at most 5 s) until it reported as many as the connector sent.
func settledReads(t *testing.T, s *modbustest.Server, inst *run.Instance) int64 {
	t.Helper()
	sent := int64(metric(inst, "modbus_requests_total"))
	if sent < 0 {
		t.Fatal("the connector reports no modbus_requests_total")
	}
	for deadline := time.Now().Add(5 * time.Second); s.Reads() < sent && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.Reads(); got != sent {
		t.Errorf("the server reported %d read requests, the connector sent %d", got, sent)
	}
	return s.Reads()
}

// stableReads is the server's count of read requests once it has not changed for
// 100 ms (at most 5 s).
func stableReads(s *modbustest.Server) int64 {
	last, since := s.Reads(), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Since(since) < 100*time.Millisecond && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if n := s.Reads(); n != last {
			last, since = n, time.Now()
		}
	}
	return last
}

// mbpoll runs Debian's mbpoll against the server and returns its value lines
// ("[100]: \t-1234" as 100 -> "-1234").
func mbpoll(t *testing.T, s *modbustest.Server, args ...string) map[int]string {
	t.Helper()
	port := s.URL()[strings.LastIndexByte(s.URL(), ':')+1:]
	out, err := exec.Command("mbpoll", append([]string{"-m", "tcp", "-p", port, "-0", "-1", "-o", "2"}, append(args, "127.0.0.1")...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	vals := map[int]string{}
	for _, m := range regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\S+)`).FindAllStringSubmatch(string(out), -1) {
		var n int
		fmt.Sscan(m[1], &n)
		vals[n] = m[2]
	}
	return vals
}

// TestWriteReadBackWithMbpoll: link_to values land in the server's coils and holding
// registers with the link's encoding and function code, as mbpoll reads them back.
func TestWriteReadBackWithMbpoll(t *testing.T) {
	modbustest.Require(t, "mbpoll")
	s := modbustest.StartTCP(t)
	links := []sdk.LinkSpec{
		{Resource: "holding/100", Config: sdk.Config{"type": "int16"}},
		{Resource: "holding/110", Config: sdk.Config{"type": "float32"}},
		{Resource: "holding/112", Config: sdk.Config{"type": "int32", "word_order": "little"}},
		{Resource: "holding/120:2", Config: sdk.Config{}},
		{Resource: "coil/5:3", Config: sdk.Config{}},
		{Resource: "coil/9", Config: sdk.Config{}},
		{Resource: "2/holding/0", Config: sdk.Config{"write_function": "multiple"}},
		{Resource: "holding/130:4", Config: sdk.Config{"type": "string"}},
		{Resource: "holding/140", Config: sdk.Config{"type": "int16", "scale": "0.1"}},
		{Resource: "coil/20", Config: sdk.Config{"write_function": "single"}},
	}
	inst, _ := start(t, s.URL(), sdk.Config{}, nil, links)
	values := []string{"-1234", "21.5", "-100000", "[7,8]", "[true,false,true]", "true", "42", `"AimDB"`, "-12.3", "true"}
	for i, v := range values {
		if err := publish(inst, uint32(i+1), v); err != nil {
			t.Fatalf("publish %s to %s: %v", v, links[i].Resource, err)
		}
	}
	checks := []struct {
		args []string
		want map[int]string
	}{
		{[]string{"-t", "4", "-r", "100"}, map[int]string{100: "64302"}},
		{[]string{"-t", "4:float", "-B", "-r", "110"}, map[int]string{110: "21.5"}},
		{[]string{"-t", "4:int", "-r", "112"}, map[int]string{112: "-100000"}},
		{[]string{"-t", "4", "-r", "120", "-c", "2"}, map[int]string{120: "7", 121: "8"}},
		{[]string{"-t", "0", "-r", "5", "-c", "5"}, map[int]string{5: "1", 6: "0", 7: "1", 8: "0", 9: "1"}},
		{[]string{"-a", "2", "-t", "4", "-r", "0"}, map[int]string{0: "42"}},
		{[]string{"-t", "4:hex", "-r", "130", "-c", "4"}, map[int]string{130: "0x4169", 131: "0x6D44", 132: "0x4200", 133: "0x0000"}},
		{[]string{"-t", "4", "-r", "140"}, map[int]string{140: "65413"}},
		{[]string{"-t", "0", "-r", "20"}, map[int]string{20: "1"}},
	}
	for _, c := range checks {
		got := mbpoll(t, s, c.args...)
		for addr, w := range c.want {
			if got[addr] != w {
				t.Errorf("mbpoll %s: [%d] = %q, want %q", strings.Join(c.args, " "), addr, got[addr], w)
			}
		}
	}
	// auto: FC 6 for one register, 16 for more, 5 for one coil, 15 for more;
	// write_function = "multiple" writes one register with FC 16, "single" one coil
	// with FC 5.
	want := []int{6, 16, 16, 16, 15, 5, 16, 16, 6, 5}
	eventually(t, fmt.Sprintf("function codes of the writes %v", want), func() bool { return slices.Equal(s.Functions(), want) })

	// A value published without a prepared link parses the link on the spot.
	if err := inst.Publish(context.Background(), "holding/150:2", sdk.Config{"type": "uint32"}, []byte("70000")); err != nil {
		t.Fatalf("publish without a prepared link: %v", err)
	}
	if got := mbpoll(t, s, "-t", "4:int", "-B", "-r", "150"); got[150] != "70000" {
		t.Errorf("mbpoll -t 4:int -B -r 150: %q, want 70000", got[150])
	}
}
