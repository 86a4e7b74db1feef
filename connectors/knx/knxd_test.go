package knx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Tests against a real knxd run inside a private network namespace, because knxd's
// KNXnet/IP server always joins the routing multicast group: TestMain re-runs the test
// binary under `unshare -n` with loopback up and multicast routed to it, so no packet
// leaves the machine. Without knxd, unshare or the privilege to use it, those tests
// skip (or fail when CI=true); the others run as usual.

// netnsEnv is set inside the namespace.
const netnsEnv = "AIMDB_KNX_NETNS"

// netnsSetup prepares loopback for multicast, then runs the test binary ($0, $@).
const netnsSetup = `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo src 127.0.0.1 && exec "$0" "$@"`

// netnsProblem says why the knxd tests cannot run here, or "".
var netnsProblem string

func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" {
		if code, ran := runInNetns(); ran {
			os.Exit(code)
		}
	}
	goleak.VerifyTestMain(m)
}

// runInNetns re-runs the tests in a new network namespace when knxd is present and
// unshare works; ran is false when it did not.
func runInNetns() (code int, ran bool) {
	for _, bin := range []string{"knxd", "knxtool", "unshare", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			netnsProblem = fmt.Sprintf("%s is not installed (Debian: apt-get install knxd knxd-tools util-linux iproute2)", bin)
			return 0, false
		}
	}
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		netnsProblem = fmt.Sprintf("cannot create a network namespace (unshare -n: %v: %s); run the tests as root", err, strings.TrimSpace(string(out)))
		return 0, false
	}
	args := append([]string{"-n", "sh", "-c", netnsSetup, os.Args[0]}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exit):
		return exit.ExitCode(), true
	}
	fmt.Fprintf(os.Stderr, "knx tests: running in a network namespace failed: %v\n", err)
	return 1, true
}

// requireKnxd skips (or fails under CI=true) when the knxd tests cannot run.
func requireKnxd(t *testing.T) {
	t.Helper()
	if os.Getenv(netnsEnv) != "" {
		return
	}
	why := netnsProblem
	if why == "" {
		why = "not inside a private network namespace"
	}
	why = "knxd tests need a private network namespace: " + why
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
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
	requireKnxd(t)
	k := &knxd{t: t, dir: t.TempDir(), port: freeUDPPort(t), routing: routing}
	k.start()
	t.Cleanup(k.stop)
	return k
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
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
		if _, err := os.Stat(k.socket()); err == nil && udpPortBound(k.port) {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("knxd not ready within 5s: %s", k.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// udpPortBound reports whether something holds the UDP port.
func udpPortBound(port int) bool {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero, Port: port})
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	c.Close()
	return false
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
