package scaleout

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
	"github.com/aimdb-dev/aimdb-go/internal/syncbuf"
)

// instance is one `aimdb run` process of the fleet, in a process group of its own
// with its plugins, so that SIGKILL to the group kills the instance whole. Its
// configuration, control socket and data directory outlive the process: restart runs
// it again on them.
type instance struct {
	t    testing.TB
	name string
	args []string
	logs *syncbuf.Buffer
	from int // where the log of the running process starts in logs
	cmd  *exec.Cmd
	done chan struct{}
}

// startInstance writes config and runs `aimdb run` with it until it logs "aimdb
// running". It is stopped (SIGTERM, then SIGKILL) when the test ends.
func startInstance(t testing.TB, name, config string) *instance {
	t.Helper()
	dir, err := os.MkdirTemp("", "aimdb-s") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "aimdb.hcl")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	i := &instance{t: t, name: name, logs: &syncbuf.Buffer{}, args: []string{"run", "--config", cfg, "--plugins", pluginDir,
		"--control", "unix://" + filepath.Join(dir, "c.sock"), "--data-dir", filepath.Join(dir, "data")}}
	t.Cleanup(func() {
		i.stop()
		if t.Failed() {
			t.Logf("aimdb %s log (last 4000 bytes):\n%s", name, tail(i.logs.String(), 4000))
		}
		os.RemoveAll(dir)
	})
	i.start()
	return i
}

// start runs the process and waits until it logs "aimdb running".
func (i *instance) start() {
	t := i.t
	t.Helper()
	from := len(i.logs.String())
	cmd, done := exec.Command(aimdbBin, i.args...), make(chan struct{})
	cmd.Stdout, cmd.Stderr = i.logs, i.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aimdb %s: %v", i.name, err)
	}
	i.from, i.cmd, i.done = from, cmd, done
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(i.logs.String()[from:], "aimdb running") {
		select {
		case <-done:
			t.Fatalf("aimdb %s exited at start:\n%s", i.name, i.logs.String()[from:])
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("aimdb %s not running after 30s:\n%s", i.name, i.logs.String()[from:])
		}
	}
}

// restart starts the instance again, on the same configuration and data directory,
// after it was killed.
func (i *instance) restart() {
	i.t.Helper()
	i.logs.Write([]byte("--- restart ---\n"))
	i.start()
}

// log returns the log of the running (or last) process.
func (i *instance) log() string { return i.logs.String()[i.from:] }

// stop ends the process, if it runs: SIGTERM, then SIGKILL after 10 s.
func (i *instance) stop() {
	if i.done == nil { // never started
		return
	}
	select {
	case <-i.done:
	default:
		_ = i.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-i.done:
		case <-time.After(10 * time.Second):
			i.kill()
		}
	}
}

// kill SIGKILLs the instance's process group (host and plugins) and waits for the host.
func (i *instance) kill() {
	_ = syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-i.done:
	case <-time.After(10 * time.Second):
		i.t.Fatalf("aimdb %s still running 10 s after SIGKILL", i.name)
	}
}

// startBroker starts a quiet mosquitto that queues without limit (the defaults drop
// QoS 1 messages beyond 1000 queued for a client, a loss that would be the broker's).
func startBroker(t testing.TB) *mqtttest.Mosquitto {
	t.Helper()
	return mqtttest.StartMosquitto(t, mqtttest.Options{
		Quiet: true,
		Extra: "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 1000\n",
	})
}

// collector counts the values the instances forwarded to doneTopic/<instance>: in
// total by sequence number (lost, duplicated) and per instance. onValue, when set,
// sees every arrival.
type collector struct {
	ctr *seqload.Counter

	mu      sync.Mutex
	per     map[string]int
	probes  map[string]bool   // instances that forwarded a probe value (beyond capacity)
	seen    []bool            // by sequence number
	firstBy []string          // by sequence number, the instance that forwarded it first
	dups    []duplicate       // values forwarded again, in arrival order
	highest map[string]uint64 // per instance, the highest sequence number it forwarded
	onValue func(instance string, seq uint64, at time.Time)
}

// duplicate is a value forwarded a second (or later) time.
type duplicate struct {
	seq           uint64
	first, second string // the instances that forwarded it first and now
	at            time.Time
}

// doneTopic is where instance NAME forwards what it handled: doneTopic + "/" + NAME.
const doneTopic = "scale/done"

func newCollector(t testing.TB, addr string, capacity uint64) *collector {
	t.Helper()
	c := &collector{ctr: seqload.NewCounter(capacity), per: map[string]int{}, probes: map[string]bool{}, seen: make([]bool, capacity), firstBy: make([]string, capacity), highest: map[string]uint64{}}
	cl := mqttClient(t, addr, func(_ paho.Client, m paho.Message) {
		now := time.Now()
		seq, sent, err := seqload.Decode(m.Payload())
		name := strings.TrimPrefix(m.Topic(), doneTopic+"/")
		if err != nil {
			return
		}
		if seq >= capacity {
			c.mu.Lock()
			c.probes[name] = true
			c.mu.Unlock()
			return
		}
		c.ctr.ObserveSeq(seq, sent, now)
		c.mu.Lock()
		if c.seen[seq] {
			c.dups = append(c.dups, duplicate{seq: seq, first: c.firstBy[seq], second: name, at: now})
		} else {
			c.firstBy[seq] = name
		}
		c.seen[seq] = true
		c.highest[name] = max(c.highest[name], seq)
		c.per[name]++
		f := c.onValue
		c.mu.Unlock()
		if f != nil {
			f(name, seq, now)
		}
	})
	if tok := cl.Subscribe(doneTopic+"/+", 0, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("collector: subscribe: %v", tok.Error())
	}
	return c
}

// counts returns the number of values each instance forwarded.
func (c *collector) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.per))
	for k, v := range c.per {
		out[k] = v
	}
	return out
}

// missing returns the sequence numbers below n that never arrived.
func (c *collector) missing(n uint64) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint64
	for seq := range n {
		if !c.seen[seq] {
			out = append(out, seq)
		}
	}
	return out
}

// duplicates returns the values forwarded more than once, in arrival order.
func (c *collector) duplicates() []duplicate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.dups)
}

// highestOf returns the highest sequence number instance name forwarded.
func (c *collector) highestOf(name string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.highest[name]
}

// probed returns how many instances forwarded a probe value.
func (c *collector) probed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.probes)
}

func (c *collector) setOnValue(f func(string, uint64, time.Time)) {
	c.mu.Lock()
	c.onValue = f
	c.mu.Unlock()
}

// waitArrived waits until want distinct values arrived, or nothing new arrived for
// quiet, or d passed; it returns the counts.
func (c *collector) waitArrived(want uint64, d, quiet time.Duration) seqload.Report {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c.ctr.Wait(ctx, want, quiet)
	return c.ctr.Report()
}

// mqttClient connects an MQTT 3.1.1 client with a clean session to addr; onMsg, when
// set, gets every message.
func mqttClient(t testing.TB, addr string, onMsg paho.MessageHandler) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID(fmt.Sprintf("scaleout-%d", time.Now().UnixNano())).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).
		SetKeepAlive(2 * time.Minute).SetOrderMatters(true).
		SetCustomOpenConnectionFn(func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", uri.Host, 5*time.Second)
			if err != nil {
				return nil, err
			}
			return &readBuffered{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
		})
	if onMsg != nil {
		opts.SetDefaultPublishHandler(onMsg)
	}
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt client: connect to %s: %v", addr, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// readBuffered buffers reads: paho reads packet headers a byte at a time.
type readBuffered struct {
	net.Conn
	r *bufio.Reader
}

func (c *readBuffered) Read(p []byte) (int, error) { return c.r.Read(p) }

// mqttPublisher publishes QoS 1 values to topics round robin, with up to 256
// publishes awaiting their PUBACK.
type mqttPublisher struct {
	c       paho.Client
	topics  []string
	pending []paho.Token
}

// Publish is a seqload Generator's Publish: value seq goes to topics[seq % len].
func (p *mqttPublisher) Publish(seq uint64, payload []byte) error {
	if len(p.pending) >= 256 {
		if err := p.waitOldest(); err != nil {
			return err
		}
	}
	p.pending = append(p.pending, p.c.Publish(p.topics[seq%uint64(len(p.topics))], 1, false, payload))
	return nil
}

func (p *mqttPublisher) waitOldest() error {
	tok := p.pending[0]
	p.pending = p.pending[1:]
	if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publish: %v", tok.Error())
	}
	return nil
}

// flush waits for every publish still awaiting its PUBACK.
func (p *mqttPublisher) flush() error {
	for len(p.pending) > 0 {
		if err := p.waitOldest(); err != nil {
			return err
		}
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
