// Package modbustest runs the Modbus server the modbus connector's tests talk to: an
// independent implementation, npm's modbus-serial (ServerTCP, and ServerSerial for
// RTU over a socat pseudo-terminal pair), driven by node/server.js. Its npm modules
// are installed with `npm ci --prefix connectors/modbus/modbustest/node` (.ci/run
// does it; nothing of node_modules is committed).
//
// Every unit has its own tables of Size addresses; units 101 to 111 answer every
// request with exception code unit - 100 (111: gateway target failed to respond), and
// unit 99 never answers (node/server.js).
//
// A Server is also the conformance kit's peer: its resources are raw links of 123
// holding registers, whose payload is the registers' bytes without trailing zeros.
package modbustest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk/conformance"

	"github.com/aimdb-dev/aimdb-go/internal/testport"
)

// Size is how many addresses each table of each unit has (0..Size-1).
const Size = 10000

// Dir is the folder of server.js and its package.json.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "node")
}

// Require skips the test (or fails it when CI=true) unless node, the npm modules of
// server.js and the named programs (mbpoll, socat) are there.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	var missing []string
	for _, p := range append([]string{"node"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			pkg := map[string]string{"node": "nodejs"}[p]
			if pkg == "" {
				pkg = p
			}
			missing = append(missing, p+" (apt-get install "+pkg+")")
		}
	}
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "modbus-serial")); err != nil {
		missing = append(missing, "npm's modbus-serial (npm ci --prefix connectors/modbus/modbustest/node)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "Modbus peer tests need " + strings.Join(missing, ", ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Server is one modbus-serial server process, restartable at the same address.
type Server struct {
	t    testing.TB
	args []string // server.js arguments
	url  string

	mu        sync.Mutex
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	exited    chan struct{}
	replies   map[int]chan string
	nextID    int
	mem       map[memKey][]uint16 // every write and set seen, across restarts
	observers []*observer
	reads     atomic.Int64
	writes    atomic.Int64
	fcs       []int // function codes of the writes, in order
}

type memKey struct {
	unit  int
	table string
}

type observer struct {
	ctx context.Context
	r   resource
	ch  chan []byte
}

// StartTCP starts a Modbus TCP server on a free port of 127.0.0.1; it is stopped when
// the test ends.
func StartTCP(t testing.TB) *Server {
	t.Helper()
	port := testport.Port(t)
	s := newServer(t, []string{"tcp", strconv.Itoa(port)}, fmt.Sprintf("modbus://127.0.0.1:%d", port))
	return s
}

// StartRTU starts a socat pseudo-terminal pair and a Modbus RTU server on one end; the
// URL names the other end, at baud bits/s and parity ("none", "even", "odd").
func StartRTU(t testing.TB, baud int, parity string) *Server {
	t.Helper()
	dir := t.TempDir()
	client, server := filepath.Join(dir, "client"), filepath.Join(dir, "server")
	socat := exec.Command("socat", "pty,raw,echo=0,link="+client, "pty,raw,echo=0,link="+server)
	if err := socat.Start(); err != nil {
		t.Fatalf("socat: %v", err)
	}
	socatDone := make(chan struct{})
	go func() { _ = socat.Wait(); close(socatDone) }()
	t.Cleanup(func() { stopProcess(socat, socatDone) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, e1 := os.Stat(client)
		_, e2 := os.Stat(server)
		if e1 == nil && e2 == nil {
			break
		}
		select {
		case <-socatDone:
			t.Fatal("socat exited before it made the pseudo-terminals")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("socat made no pseudo-terminals within 10s")
		}
	}
	p := map[string]string{"none": "N", "even": "E", "odd": "O"}[parity]
	return newServer(t, []string{"rtu", server, strconv.Itoa(baud), parity},
		fmt.Sprintf("modbus+rtu://%s?baud=%d&parity=%s", client, baud, p))
}

func newServer(t testing.TB, args []string, url string) *Server {
	s := &Server{t: t, args: args, url: url, replies: map[int]chan string{}, mem: map[memKey][]uint16{}}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// URL is the connector URL that reaches the server.
func (s *Server) URL() string { return s.url }

// Reads counts the register read requests (FC 3 and 4) the server answered.
func (s *Server) Reads() int64 { return s.reads.Load() }

// Writes counts the write requests the server took.
func (s *Server) Writes() int64 { return s.writes.Load() }

// Functions returns the function codes of the write requests so far, in order (5, 6,
// 15 or 16).
func (s *Server) Functions() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.fcs...)
}

// Start starts the server process (again) and waits until it listens.
func (s *Server) Start(ctx context.Context) error {
	cmd := exec.Command("node", append([]string{filepath.Join(Dir(), "server.js")}, s.args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node server.js: %w", err)
	}
	exited := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		s.readEvents(stdout, ready)
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.stdin, s.exited = cmd, stdin, exited
	s.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-exited:
		return fmt.Errorf("node server.js %s exited before it listened", strings.Join(s.args, " "))
	case <-time.After(15 * time.Second):
		stopProcess(cmd, exited)
		return fmt.Errorf("node server.js %s: not listening within 15s", strings.Join(s.args, " "))
	case <-ctx.Done():
		stopProcess(cmd, exited)
		return ctx.Err()
	}
}

// Stop stops the server process (SIGTERM, then SIGKILL after 5 s).
func (s *Server) Stop(context.Context) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		stopProcess(cmd, exited)
	}
	return nil
}

// stopProcess ends a process this package started, by its pid.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// event is one line of server.js's stdout.
type event struct {
	Ev     string          `json:"ev"`
	FC     int             `json:"fc"`
	ID     *int            `json:"id"`
	Error  string          `json:"error"`
	Unit   int             `json:"unit"`
	Table  string          `json:"table"`
	Addr   int             `json:"addr"`
	Values json.RawMessage `json:"values"`
}

func (s *Server) readEvents(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		switch {
		case ev.ID != nil:
			s.mu.Lock()
			ch := s.replies[*ev.ID]
			delete(s.replies, *ev.ID)
			s.mu.Unlock()
			if ch != nil {
				ch <- ev.Error
			}
		case ev.Ev == "ready":
			close(ready)
		case ev.Ev == "read":
			s.reads.Add(1)
		case ev.Ev == "write":
			s.writes.Add(1)
			s.mu.Lock()
			s.fcs = append(s.fcs, ev.FC)
			s.mu.Unlock()
			s.apply(ev.Unit, ev.Table, ev.Addr, regsOf(ev.Values))
		}
	}
}

// regsOf reads a write's values: numbers, or booleans as 1 and 0.
func regsOf(raw json.RawMessage) []uint16 {
	var vals []any
	_ = json.Unmarshal(raw, &vals)
	out := make([]uint16, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case float64:
			out[i] = uint16(x)
		case bool:
			if x {
				out[i] = 1
			}
		}
	}
	return out
}

// apply records values written at addr and tells the observers they concern.
func (s *Server) apply(unit int, table string, addr int, vals []uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey{unit, table}
	m := s.mem[k]
	if m == nil {
		m = make([]uint16, Size)
		s.mem[k] = m
	}
	copy(m[addr:], vals)
	live := s.observers[:0]
	for _, o := range s.observers {
		if o.ctx.Err() != nil {
			close(o.ch)
			continue
		}
		live = append(live, o)
		if o.r.unit == unit && o.r.table == table && addr < o.r.addr+o.r.count && addr+len(vals) > o.r.addr {
			select {
			case o.ch <- o.r.decode(m[o.r.addr : o.r.addr+o.r.count]):
			default:
			}
		}
	}
	s.observers = live
}

// Set stores values in a table of unit from addr, as the device itself would
// (input registers and discrete inputs included); booleans are 1 and 0.
func (s *Server) Set(ctx context.Context, unit int, table string, addr int, values []uint16) error {
	s.mu.Lock()
	if s.cmd == nil {
		s.mu.Unlock()
		return errors.New("the server is stopped")
	}
	s.nextID++
	id := s.nextID
	ch := make(chan string, 1)
	s.replies[id] = ch
	stdin := s.stdin
	s.mu.Unlock()
	line, _ := json.Marshal(map[string]any{"id": id, "op": "set", "unit": unit, "table": table, "addr": addr, "values": values})
	if _, err := stdin.Write(append(line, '\n')); err != nil {
		return err
	}
	select {
	case msg := <-ch:
		if msg != "" {
			return errors.New(msg)
		}
		s.apply(unit, table, addr, values)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("server.js did not answer a set within 10s")
	}
}

// Registers returns count values of a table of unit from addr as last written or set.
func (s *Server) Registers(unit int, table string, addr, count int) []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uint16, count)
	if m := s.mem[memKey{unit, table}]; m != nil {
		copy(out, m[addr:addr+count])
	}
	return out
}

// resource is a conformance resource: UNIT/holding/ADDR:COUNT of type raw.
type resource struct {
	unit, addr, count int
	table             string
}

func parseResource(s string) (resource, error) {
	var r resource
	if _, err := fmt.Sscanf(strings.NewReplacer("/", " ", ":", " ").Replace(s), "%d %s %d %d", &r.unit, &r.table, &r.addr, &r.count); err != nil {
		return r, fmt.Errorf("resource %q: want UNIT/TABLE/ADDR:COUNT", s)
	}
	return r, nil
}

// decode is the raw payload of registers: their bytes, high byte first, without
// trailing zero bytes.
func (r resource) decode(regs []uint16) []byte {
	b := make([]byte, 0, 2*len(regs))
	for _, v := range regs {
		b = append(b, byte(v>>8), byte(v))
	}
	return []byte(strings.TrimRight(string(b), "\x00"))
}

// ConformanceRegisters is the count of the conformance resources: the most one write
// request carries, so the connector's max payload fits.
const ConformanceRegisters = 123

// Resources are three raw links of 123 holding registers on unit 1.
func (s *Server) Resources() conformance.Resources {
	var names []string
	for _, a := range []int{0, 200, 400} {
		names = append(names, fmt.Sprintf("1/holding/%d:%d", a, ConformanceRegisters))
	}
	return conformance.Resources{Names: names}
}

// Observe reports the payload of resource after every write that touches it.
func (s *Server) Observe(ctx context.Context, res string) (<-chan []byte, error) {
	r, err := parseResource(res)
	if err != nil {
		return nil, err
	}
	o := &observer{ctx: ctx, r: r, ch: make(chan []byte, 1024)}
	s.mu.Lock()
	s.observers = append(s.observers, o)
	s.mu.Unlock()
	return o.ch, nil
}

// Inject stores payload in the registers of topic, zero-padded, for the connector's
// next poll to read.
func (s *Server) Inject(ctx context.Context, topic string, payload []byte) error {
	r, err := parseResource(topic)
	if err != nil {
		return err
	}
	if len(payload) > 2*r.count {
		return fmt.Errorf("%d bytes do not fit %d registers", len(payload), r.count)
	}
	regs := make([]uint16, r.count)
	for i, b := range payload {
		regs[i/2] |= uint16(b) << (8 * (1 - i%2))
	}
	return s.Set(ctx, r.unit, r.table, r.addr, regs)
}
