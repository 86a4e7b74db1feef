// Package wstest runs the WebSocket connector's independent test peers: a hub on
// Debian's node-ws (testdata/hub.js) and npm's wscat client. A test that needs one
// fails when it is missing under CI=true and skips otherwise.
package wstest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Event is one line the hub prints: a client opened or closed, a frame arrived, or
// a command was carried out.
type Event struct {
	Event    string            `json:"event"`
	ID       int               `json:"id"`
	Path     string            `json:"path"`
	Protocol string            `json:"protocol"`
	Headers  map[string]string `json:"headers"`
	Cert     string            `json:"cert"`
	Binary   bool              `json:"binary"`
	Data     []byte            `json:"data"`
	Code     int               `json:"code"`
	Seq      int               `json:"seq"`
	Count    int               `json:"count"`
	Port     int               `json:"port"`
}

// Options configure a hub.
type Options struct {
	// Cert and Key serve wss://; CA makes clients present a certificate it signed.
	Cert, Key, CA string
	// Protocol is the one subprotocol the hub accepts when a client offers it.
	Protocol string
	// Token, when set, makes the hub refuse (401) handshakes without it as bearer token.
	Token string
}

// Hub is a running hub.js; Stop and Start take it down and bring it back at the
// same port.
type Hub struct {
	t    testing.TB
	opts Options
	env  []string

	mu     sync.Mutex
	port   int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{} // closed when the current process's output ended
	subs   map[int]*sub
	nextID int
}

type sub struct {
	match func(Event) bool
	ch    chan Event
	done  chan struct{}
}

// require fails (CI=true) or skips the test with why.
func require(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// nodeEnv returns the environment under which node finds Debian's ws module, or
// fails/skips the test when node or node-ws is missing.
func nodeEnv(t testing.TB) []string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		require(t, "node is not installed (apt-get install nodejs node-ws)")
	}
	if exec.Command("node", "-e", "require('ws')").Run() == nil {
		return os.Environ()
	}
	// Node builds other than Debian's do not look where Debian installs modules:
	// ask dpkg where node-ws put ws.
	out, err := exec.Command("dpkg-query", "-L", "node-ws").Output()
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasSuffix(line, "/ws/package.json") && !strings.Contains(line, "/@types/") {
				modules := filepath.Dir(filepath.Dir(line))
				return append(os.Environ(), "NODE_PATH="+modules)
			}
		}
	}
	require(t, "node cannot load the ws module: install Debian's node-ws")
	return nil
}

// script is testdata/hub.js beside this package.
func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "hub.js")
}

// Start runs a hub on a free loopback port; it is stopped when the test ends.
func Start(t testing.TB, opts Options) *Hub {
	t.Helper()
	h := &Hub{t: t, opts: opts, env: nodeEnv(t), subs: map[int]*sub{}}
	if err := h.start(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(context.Background()) })
	return h
}

func (h *Hub) start(port int) error {
	args := []string{script(), strconv.Itoa(port)}
	if h.opts.Cert != "" {
		args = append(args, "--cert", h.opts.Cert, "--key", h.opts.Key)
		if h.opts.CA != "" {
			args = append(args, "--ca", h.opts.CA)
		}
	}
	if h.opts.Protocol != "" {
		args = append(args, "--protocol", h.opts.Protocol)
	}
	if h.opts.Token != "" {
		args = append(args, "--token", h.opts.Token)
	}
	cmd := exec.Command("node", args...)
	cmd.Env = h.env
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
		return fmt.Errorf("start hub: %w", err)
	}
	listening := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 128<<20)
		for sc.Scan() {
			var ev Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				continue
			}
			if ev.Event == "listening" {
				listening <- ev.Port
				continue
			}
			h.publish(ev)
		}
	}()
	select {
	case p := <-listening:
		h.mu.Lock()
		h.port, h.cmd, h.stdin, h.done = p, cmd, stdin, done
		h.mu.Unlock()
		return nil
	case <-done:
	case <-time.After(15 * time.Second):
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return fmt.Errorf("hub on port %d did not start", port)
}

// publish hands ev to every subscriber it matches.
func (h *Hub) publish(ev Event) {
	h.mu.Lock()
	var subs []*sub
	for _, s := range h.subs {
		if s.match(ev) {
			subs = append(subs, s)
		}
	}
	h.mu.Unlock()
	for _, s := range subs {
		select {
		case s.ch <- ev:
		case <-s.done:
		}
	}
}

// Subscribe returns the events match accepts from now on, until ctx ends.
func (h *Hub) Subscribe(ctx context.Context, match func(Event) bool) <-chan Event {
	s := &sub{match: match, ch: make(chan Event, 1<<16), done: make(chan struct{})}
	h.mu.Lock()
	h.nextID++
	id := h.nextID
	h.subs[id] = s
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs, id)
		h.mu.Unlock()
		close(s.done)
	}()
	return s.ch
}

// Next waits for the next event on ch.
func Next(t testing.TB, ch <-chan Event, timeout time.Duration) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(timeout):
		t.Fatalf("hub: no event within %v", timeout)
		return Event{}
	}
}

// URL is the hub's address with scheme ("ws" or "wss") and path.
func (h *Hub) URL(scheme, path string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, h.port, path)
}

// Send sends data as one frame to every client connected on path and returns how
// many there were.
func (h *Hub) Send(ctx context.Context, path string, data []byte, binary bool) (int, error) {
	return h.command(ctx, map[string]any{"op": "send", "path": path, "data": data, "binary": binary})
}

// Freeze makes the hub stop reading every open connection: it answers no ping.
func (h *Hub) Freeze(ctx context.Context) error {
	_, err := h.command(ctx, map[string]any{"op": "freeze"})
	return err
}

var seq struct {
	sync.Mutex
	n int
}

func (h *Hub) command(ctx context.Context, cmd map[string]any) (int, error) {
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	cmd["seq"] = n
	line, _ := json.Marshal(cmd)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	replies := h.Subscribe(sctx, func(ev Event) bool { return ev.Seq == n && ev.Event != "message" })
	h.mu.Lock()
	stdin := h.stdin
	h.mu.Unlock()
	if stdin == nil {
		return 0, fmt.Errorf("hub is stopped")
	}
	if _, err := stdin.Write(append(line, '\n')); err != nil {
		return 0, fmt.Errorf("hub: %w", err)
	}
	select {
	case ev := <-replies:
		return ev.Count, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Stop ends the hub process (SIGTERM: open connections are cut, not closed).
func (h *Hub) Stop(context.Context) error {
	h.mu.Lock()
	cmd, stdin, done := h.cmd, h.stdin, h.done
	h.cmd, h.stdin = nil, nil
	h.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	_ = stdin.Close()
	_ = cmd.Wait()
	return nil
}

// Start brings a stopped hub back on its port.
func (h *Hub) Start(context.Context) error {
	h.mu.Lock()
	port, running := h.port, h.cmd != nil
	h.mu.Unlock()
	if running {
		return nil
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = portFree(port); err == nil {
			return h.start(port)
		}
	}
	return err
}

func portFree(port int) error {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	return ln.Close()
}

// Wscat is npm's wscat, an independent WebSocket client.
type Wscat struct {
	path string
	env  []string
}

// FindWscat finds wscat on PATH (.ci/run installs npm's); it fails or skips the test
// when there is none.
func FindWscat(t testing.TB) *Wscat {
	t.Helper()
	path, err := exec.LookPath("wscat")
	if err != nil {
		require(t, "wscat is not installed (npm install wscat; .ci/run does)")
	}
	w := &Wscat{path: path, env: nodeEnv(t)}
	version := exec.Command(path, "--version")
	version.Env = w.env
	out, err := version.CombinedOutput()
	if err != nil {
		t.Fatalf("wscat --version: %v: %s", err, out)
	}
	t.Logf("wscat %s at %s", strings.TrimSpace(string(out)), path)
	return w
}

// Send connects to url, sends each message as a text frame and closes.
func (w *Wscat) Send(url string, msgs ...string) error {
	args := []string{"-c", url, "-w", "1"}
	for _, m := range msgs {
		args = append(args, "-x", m)
	}
	cmd := exec.Command(w.path, args...)
	cmd.Env = w.env
	// wscat quits as soon as its input ends, before its frames are out: keep it open.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	defer stdin.Close()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("wscat: %v: %s", err, out)
	}
	return nil
}

// Listen connects to url and returns the messages wscat prints, one per line, until
// the test ends.
func (w *Wscat) Listen(t testing.TB, url string) <-chan string {
	t.Helper()
	cmd := exec.Command(w.path, "-c", url, "--no-color")
	cmd.Env = w.env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- strings.TrimPrefix(sc.Text(), "< ")
		}
		close(lines)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return lines
}
