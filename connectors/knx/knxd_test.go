package knx

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxtest"
)

// Tests against a real knxd run inside a private network namespace, because knxd's
// KNXnet/IP server always joins the routing multicast group: TestMain re-runs the test
// binary under `unshare -n` with loopback up and multicast routed to it, so no packet
// leaves the machine. Without knxd, unshare or the privilege to use it, those tests
// skip (or fail when CI=true); the others run as usual.

func TestMain(m *testing.M) {
	if code, ran := knxtest.InNetns(); ran {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// knxd is one knxd process serving tunnelling (and routing when asked) on port.
type knxd struct {
	t       *testing.T
	dir     string
	port    int
	routing bool
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *os.File
}

// startKnxd starts knxd on a free UDP port with its own socket directory.
func startKnxd(t *testing.T, routing bool) *knxd {
	t.Helper()
	knxtest.Require(t)
	k := &knxd{t: t, dir: t.TempDir(), port: knxtest.FreeUDPPort(t), routing: routing}
	k.start()
	t.Cleanup(k.stop)
	return k
}

func (k *knxd) socket() string { return filepath.Join(k.dir, "knxd.sock") }

// bus is knxtool's URL of this knxd.
func (k *knxd) bus() string { return "local:" + k.socket() }

func (k *knxd) tunnelURL() string { return fmt.Sprintf("knx://127.0.0.1:%d", k.port) }

// start runs knxd and waits until its unix socket exists and its UDP port is bound.
func (k *knxd) start() {
	k.t.Helper()
	os.Remove(k.socket())
	args := []string{"-e", "0.0.1", "-E", "0.0.2:8", "-u", k.socket(), "-T"}
	if k.routing {
		args = append(args, "-R")
	}
	args = append(args, "-I", "lo", "-S", fmt.Sprintf("224.0.23.12:%d", k.port), "-b", "dummy:")
	log, err := os.Create(filepath.Join(k.dir, fmt.Sprintf("knxd-%d.log", time.Now().UnixNano())))
	if err != nil {
		k.t.Fatal(err)
	}
	k.log = log
	k.cmd = exec.Command("knxd", args...)
	k.cmd.Stdout, k.cmd.Stderr = log, log
	if err := k.cmd.Start(); err != nil {
		k.t.Fatalf("start knxd: %v", err)
	}
	k.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(k.cmd, k.exited)
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case <-k.exited:
			k.t.Fatalf("knxd exited during start-up: %s", k.logText())
		default:
		}
		if _, err := os.Stat(k.socket()); err == nil && knxtest.UDPPortBound(k.port) {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("knxd not ready within 5s: %s", k.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (k *knxd) logText() string {
	b, _ := os.ReadFile(k.log.Name())
	return string(b)
}

// stop ends knxd by PID: SIGTERM, then SIGKILL after 5 s.
func (k *knxd) stop() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	select {
	case <-k.exited:
	default:
		k.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-k.exited:
		case <-time.After(5 * time.Second):
			k.cmd.Process.Kill()
			<-k.exited
		}
	}
	k.log.Close()
	k.cmd = nil
}

// knxtool runs one knxtool command against this knxd.
func (k *knxd) knxtool(args ...string) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	full := append([]string{args[0], k.bus()}, args[1:]...)
	out, err := exec.CommandContext(ctx, "knxtool", full...).CombinedOutput()
	if err != nil {
		k.t.Fatalf("knxtool %s: %v: %s", strings.Join(full, " "), err, out)
	}
}

// listener is a running `knxtool groupsocketlisten`: one line per group telegram.
type listener struct {
	lines chan string
}

// listen starts groupsocketlisten and waits until it sees a probe telegram.
func (k *knxd) listen() *listener {
	k.t.Helper()
	cmd := exec.Command("knxtool", "groupsocketlisten", k.bus())
	out, err := cmd.StdoutPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	l := &listener{lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- strings.TrimSpace(sc.Text())
		}
		close(l.lines)
	}()
	k.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	// groupsocketlisten prints nothing when it is ready: probe until it hears us.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		k.knxtool("groupswrite", "31/7/255", "0")
		select {
		case line := <-l.lines:
			if strings.HasSuffix(line, "to 31/7/255: 00") {
				return l
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	k.t.Fatal("groupsocketlisten did not start within 5s")
	return nil
}

// expect waits for a line ending in suffix (e.g. "to 1/2/5: 0C 33"), skipping others.
func (l *listener) expect(t *testing.T, suffix string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	var seen []string
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				t.Fatalf("groupsocketlisten ended; want %q, saw %q", suffix, seen)
			}
			if strings.HasSuffix(line, suffix) {
				return line
			}
			seen = append(seen, line)
		case <-timeout:
			t.Fatalf("groupsocketlisten: no line ending in %q within 5s; saw %q", suffix, seen)
		}
	}
}
