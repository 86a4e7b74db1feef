package ops

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/aimdb-dev/aimdb-go/internal/syncbuf"
)

// aimdbProc is an `aimdb run` process with its listener on a free loopback port.
type aimdbProc struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port
	control string // unix:///...
	stderr  *syncbuf.Buffer
	done    chan struct{}
}

var dashboardURL = regexp.MustCompile(`dashboard=(http://[0-9.:]+)/`)

// startAimdb runs the aimdb binary with the configuration src and waits for its start
// line, which names the listener's address.
func startAimdb(t *testing.T, src string, extra ...string) *aimdbProc {
	t.Helper()
	dir, err := os.MkdirTemp("", "aimdb-ops") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "aimdb.hcl")
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &aimdbProc{control: "unix://" + filepath.Join(dir, "c.sock"), stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	args := append([]string{"run", "--config", cfg, "--plugins", pluginDir, "--control", p.control, "--http", "127.0.0.1:0"}, extra...)
	p.cmd = exec.Command(aimdbBin, args...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("aimdb log:\n%s", tailString(p.stderr.String(), 8000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := dashboardURL.FindStringSubmatch(p.stderr.String()); m != nil {
			p.base = m[1]
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("aimdb exited at start:\n%s", p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("aimdb did not start:\n%s", p.stderr.String())
		}
	}
}

// stop ends the process by PID: SIGTERM, then SIGKILL after 10 s.
func (p *aimdbProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// rss is the process's resident set size in bytes, from /proc.
func (p *aimdbProc) rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatalf("reading the host's RSS: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// client connects to the process's control socket.
func (p *aimdbProc) client(t *testing.T) *control.Client {
	t.Helper()
	cl, err := control.Dial(context.Background(), p.control)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
