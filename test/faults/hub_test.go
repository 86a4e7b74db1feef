package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/aimdb-dev/aimdb-go/internal/syncbuf"
)

// hub is one `aimdb run` process: the real binary, with the plugins built by
// TestMain, a control socket and a data directory of its own. It runs in a process
// group of its own (Setpgid), so a signal to that group never reaches the test.
type hub struct {
	t       *testing.T
	dir     string // config, control socket and data directory
	args    []string
	addr    string // control socket, unix:///...
	logs    *syncbuf.Buffer
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
}

// hubOptions are the flags of one hub besides config, plugins and control socket.
type hubOptions struct {
	// Drain is --drain-timeout; zero keeps the default.
	Drain time.Duration
}

// startHub writes config and runs `aimdb run` with it until the hub logs "aimdb
// running". The hub is stopped (SIGTERM, then SIGKILL) when the test ends.
func startHub(t *testing.T, config string, o hubOptions) *hub {
	t.Helper()
	dir, err := os.MkdirTemp("", "aimdb-f") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "aimdb.hcl")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &hub{t: t, dir: dir, addr: "unix://" + filepath.Join(dir, "c.sock"), logs: &syncbuf.Buffer{}}
	h.args = []string{"run", "--config", cfg, "--plugins", pluginDir, "--control", h.addr,
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "debug"}
	if o.Drain > 0 {
		h.args = append(h.args, "--drain-timeout", o.Drain.String())
	}
	t.Cleanup(func() {
		if h.running() {
			h.stop(10 * time.Second)
		}
		if t.Failed() {
			t.Logf("aimdb log (last 6000 bytes):\n%s", tail(h.logs.String(), 6000))
		}
		os.RemoveAll(dir)
	})
	h.start()
	return h
}

// start runs the process (again, after it stopped, with the same data directory)
// and waits until it logs that it is running.
func (h *hub) start() {
	h.t.Helper()
	if h.running() {
		h.t.Fatal("aimdb is already running")
	}
	fmt.Fprintf(h.logs, "---- aimdb %s\n", strings.Join(h.args, " "))
	mark := h.logs.Len()
	cmd := exec.Command(aimdbBin, h.args...)
	cmd.Stdout, cmd.Stderr = h.logs, h.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start aimdb: %v", err)
	}
	h.cmd, h.done, h.exitErr = cmd, make(chan struct{}), nil
	go func(done chan struct{}) {
		h.exitErr = cmd.Wait()
		close(done)
	}(h.done)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.logs.String()[mark:], "aimdb running") {
		select {
		case <-h.done:
			h.t.Fatalf("aimdb exited at start: %v\n%s", h.exitErr, h.logs.String()[mark:])
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("aimdb not running after 30s\n%s", h.logs.String()[mark:])
		}
	}
}

func (h *hub) running() bool {
	if h.done == nil {
		return false
	}
	select {
	case <-h.done:
		return false
	default:
		return true
	}
}

// wait waits up to d for the process to exit and returns its exit code, or -1 when
// it is still running.
func (h *hub) wait(d time.Duration) int {
	select {
	case <-h.done:
		return h.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// stop sends SIGTERM to the process and waits up to d, then SIGKILLs it; it returns
// the exit code (-1 when it had to be killed).
func (h *hub) stop(d time.Duration) int {
	h.t.Helper()
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	if code := h.wait(d); code != -1 || !h.running() {
		return code
	}
	h.t.Errorf("aimdb did not stop within %v of SIGTERM; killing it", d)
	h.kill()
	return -1
}

// kill SIGKILLs the host process (its plugins notice their parent is gone) and waits
// for it.
func (h *hub) kill() {
	h.t.Helper()
	_ = h.cmd.Process.Kill()
	if h.wait(10*time.Second) == -1 && h.running() {
		h.t.Fatalf("aimdb pid %d still running 10s after SIGKILL", h.cmd.Process.Pid)
	}
}

// signalGroup sends sig to the hub's whole process group, as a terminal's Ctrl-C or
// systemd's KillMode=control-group would.
func (h *hub) signalGroup(sig syscall.Signal) {
	h.t.Helper()
	pgid, err := syscall.Getpgid(h.cmd.Process.Pid)
	if err != nil || pgid != h.cmd.Process.Pid {
		h.t.Fatalf("aimdb pid %d: process group %d (%v), want its own", h.cmd.Process.Pid, pgid, err)
	}
	if err := syscall.Kill(-pgid, sig); err != nil {
		h.t.Fatalf("kill -%d -%d: %v", sig, pgid, err)
	}
}

// cli runs an aimdb client command against the hub and returns its stdout; it fails
// the test when the command fails.
func (h *hub) cli(args ...string) string {
	h.t.Helper()
	out, err := h.tryCLI(args...)
	if err != nil {
		h.t.Fatalf("aimdb %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (h *hub) tryCLI(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, aimdbBin, append(args, "--connect", h.addr)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// links is `aimdb link list -o json`.
func (h *hub) links() []control.LinkStatus {
	h.t.Helper()
	var ls []control.LinkStatus
	out := h.cli("link", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		h.t.Fatalf("aimdb link list -o json: %v\n%s", err, out)
	}
	return ls
}

// link returns the link of record whose URL is url.
func (h *hub) link(record, url string) control.LinkStatus {
	h.t.Helper()
	for _, l := range h.links() {
		if l.Record == record && l.URL == url {
			return l
		}
	}
	h.t.Fatalf("no link %s of record %s in aimdb link list", url, record)
	return control.LinkStatus{}
}

// connector is the connector instance name in `aimdb connector list -o json`.
func (h *hub) connector(name string) control.ConnectorStatus {
	h.t.Helper()
	var cs []control.ConnectorStatus
	out := h.cli("connector", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		h.t.Fatalf("aimdb connector list -o json: %v\n%s", err, out)
	}
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	h.t.Fatalf("no connector %q in aimdb connector list:\n%s", name, out)
	return control.ConnectorStatus{}
}

// waitLink polls the link until ok accepts it, failing the test after d.
func (h *hub) waitLink(record, url string, d time.Duration, what string, ok func(control.LinkStatus) bool) control.LinkStatus {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		l := h.link(record, url)
		if ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("link %s of %s: not %s within %v: %s", url, record, what, d, linkSummary(l))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitConnected waits until every named connector instance is connected.
func (h *hub) waitConnected(d time.Duration, names ...string) {
	h.t.Helper()
	for _, n := range names {
		waitFor(h.t, d, "connector "+n+" connected", func() bool { return h.connector(n).State == "connected" })
	}
}

// linkSummary is the part of a link's status a failure message needs.
func linkSummary(l control.LinkStatus) string {
	b, _ := json.Marshal(l)
	return string(b)
}

// waitFor polls cond every 50 ms until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processAlive reports whether pid still exists (and is not a zombie of ours).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits up to d for pid to exit; it SIGKILLs it and fails the test when it
// does not.
func waitGone(t *testing.T, pid int, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("%s (pid %d) still running after %v; killed it", what, pid, d)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// linkStatus is one link in `aimdb link list -o json`.
type linkStatus = control.LinkStatus

// watcher is a running `aimdb record watch PATTERN`, as a user types it (the table
// form, whose "watching ..." line on stderr says it is subscribed).
type watcher struct {
	cmd    *exec.Cmd
	events chan watchEvent
	stderr *syncbuf.Buffer
}

// watchEvent is one value the watch printed.
type watchEvent struct {
	Topic    string
	Snapshot bool
	Lag      uint64 // values skipped before this one
	Data     json.RawMessage
}

// watchRecord starts `aimdb record watch pattern` and waits until it is subscribed;
// it is stopped by PID when the test ends.
func watchRecord(t *testing.T, h *hub, pattern string) *watcher {
	t.Helper()
	w := &watcher{events: make(chan watchEvent, 4096), stderr: &syncbuf.Buffer{}}
	w.cmd = exec.Command(aimdbBin, "record", "watch", pattern, "--connect", h.addr)
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go w.read(out)
	go func() { _ = w.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-exited
	})
	waitFor(t, 10*time.Second, "aimdb record watch "+pattern+" subscribed", func() bool {
		return strings.Contains(w.stderr.String(), "watching")
	})
	return w
}

// read parses "TOPIC<tab>JSON", "TOPIC<tab>JSON  (snapshot)" and "# N value(s)
// skipped ..." lines.
func (w *watcher) read(out io.Reader) {
	defer close(w.events)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var lag uint64
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			n, _, _ := strings.Cut(rest, " ")
			skipped, _ := strconv.ParseUint(n, 10, 64)
			lag += skipped
			continue
		}
		topic, data, _ := strings.Cut(line, "\t")
		data, snap := strings.CutSuffix(data, "  (snapshot)")
		w.events <- watchEvent{Topic: topic, Snapshot: snap, Lag: lag, Data: json.RawMessage(data)}
		lag = 0
	}
}

// next returns the next event that is not a snapshot, failing the test after d.
func (w *watcher) next(t *testing.T, d time.Duration) watchEvent {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				t.Fatalf("aimdb record watch ended: %s", w.stderr.String())
			}
			if ev.Lag != 0 {
				t.Errorf("aimdb record watch skipped %d values", ev.Lag)
			}
			if !ev.Snapshot {
				return ev
			}
		case <-timer.C:
			t.Fatalf("aimdb record watch: no value within %v", d)
		}
	}
}

// quiet fails the test when an event arrives within d.
func (w *watcher) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-w.events:
		if ok {
			t.Errorf("aimdb record watch: unexpected %s %s", ev.Topic, ev.Data)
		}
	case <-time.After(d):
	}
}
