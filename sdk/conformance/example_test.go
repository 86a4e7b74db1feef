package conformance_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/testplugins/line"
	"github.com/aimdb-dev/aimdb-go/internal/testport"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// copyExample copies examples/NAME to a directory outside the repository, as a third
// party would have it: its replace directive points at the repository and its go.sum
// is the repository's, so it builds offline from the module cache.
func copyExample(t *testing.T, root, name string) string {
	t.Helper()
	src := filepath.Join(root, "examples", name)
	dst := filepath.Join(t.TempDir(), name+"-connector")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch rel {
		case "go.mod":
			b = bytes.Replace(b, []byte("=> ../.."), []byte("=> "+root), 1)
		case "go.sum":
			if b, err = os.ReadFile(filepath.Join(root, "go.sum")); err != nil {
				return err
			}
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the example: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "go.sum")); err != nil {
		b, _ := os.ReadFile(filepath.Join(root, "go.sum"))
		os.WriteFile(filepath.Join(dst, "go.sum"), b, 0o644)
	}
	return dst
}

// offlineGo runs the go command in dir with the module cache only.
func offlineGo(t *testing.T, dir string, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// TestExampleAsThirdParty builds each example outside the repository, runs its own
// tests there (which put it through the conformance kit), runs the UDP one as a
// plugin of a real `aimdb run`, setting and getting records through the CLI, and
// puts the TCP one through `aimdb conformance` with its peer program.
func TestExampleAsThirdParty(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	aimdb := filepath.Join(t.TempDir(), "aimdb")
	offlineGo(t, root, 3*time.Minute, "build", "-o", aimdb, "./cmd/aimdb")
	t.Run("aimdb-conformance", func(t *testing.T) {
		t.Parallel()
		conformanceCommand(t, aimdb)
	})
	for _, ex := range []struct {
		name   string
		passed []string // checks the example's own tests must pass
	}{
		{"udp", []string{"TestConformance/publish/single", "TestConformance/outage/recover"}},
		{"tcp", []string{"TestConformance/publish/deadline", "TestConformance/outage/inbound", "TestConformance/outage/backoff",
			"TestConformance/outage/reconnects", "TestConformanceInProcess/inbound/payload-kept"}},
	} {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			dir := copyExample(t, root, ex.name)
			plugins := filepath.Join(t.TempDir(), "plugins")
			offlineGo(t, dir, 3*time.Minute, "build", "-o", filepath.Join(plugins, ex.name), ".")
			t.Run("own-tests", func(t *testing.T) {
				t.Parallel()
				out := offlineGo(t, dir, 4*time.Minute, "test", "-count=1", "-v", "./...")
				for _, want := range append(ex.passed, "ok  \tgithub.com/aimdb-dev/aimdb-go/examples/"+ex.name) {
					if !strings.HasPrefix(want, "ok") {
						want = "--- PASS: " + want
					}
					if !strings.Contains(out, want) {
						t.Errorf("the example's tests did not print %q:\n%s", want, out)
					}
				}
				if strings.Contains(out, "--- FAIL") {
					t.Errorf("the example's tests failed:\n%s", out)
				}
			})
			switch ex.name {
			case "udp":
				t.Run("aimdb-run", func(t *testing.T) {
					t.Parallel()
					runWithAimdb(t, aimdb, plugins)
				})
			case "tcp":
				t.Run("aimdb-conformance", func(t *testing.T) {
					t.Parallel()
					peer := filepath.Join(t.TempDir(), "tcp-peer")
					offlineGo(t, dir, 3*time.Minute, "build", "-o", peer, "./peer")
					addr := testport.Addr(t)
					out, err := exec.Command(aimdb, "conformance", filepath.Join(plugins, "tcp"), "--url", "tcp://"+addr,
						"--peer", peer+" "+addr, "--only", "outage/,publish/deadline").CombinedOutput()
					if err != nil || !strings.Contains(string(out), "pass  outage/reconnects") || !strings.Contains(string(out), "pass  publish/deadline") {
						t.Errorf("aimdb conformance on the TCP example: %v\n%s", err, out)
					}
				})
			}
		})
	}
}

// conformanceCommand runs `aimdb conformance` on the line test plugin with the TCP
// example's peer program: without a fault it passes the checks it selects; with one,
// it fails that fault's check and exits 1.
func conformanceCommand(t *testing.T, aimdb string) {
	addr := testport.Addr(t)
	plugin := filepath.Join(pluginDir, "line")
	junit := filepath.Join(t.TempDir(), "conformance.xml")
	cmd := exec.Command(aimdb, "conformance", plugin, "--url", "line://"+addr,
		"--peer", linePeer+" "+addr, "--only", "publish/single,inbound/,outage/", "--junit", junit)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aimdb conformance: %v\n%s", err, out)
	}
	total := len(conformance.Checks())
	for _, want := range []string{"pass  handshake/start", "pass  publish/single", "pass  inbound/routes", "pass  inbound/wildcards",
		"pass  inbound/ack-commit", "pass  outage/down", "pass  outage/recover", "pass  outage/inbound", "pass  outage/backoff",
		"pass  outage/reconnects", "skip  config/secrets: not selected", fmt.Sprintf("11 passed, 0 failed, %d skipped", total-11)} {
		if !strings.Contains(string(out), want+"\n") && !strings.Contains(string(out), want+" (") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	x, err := os.ReadFile(junit)
	if err != nil || !strings.Contains(string(x), fmt.Sprintf(`<testsuite name="conformance %s" tests="%d" failures="0" skipped="%d"`, plugin, total, total-11)) {
		t.Errorf("junit file: %v\n%s", err, x)
	}

	broken := exec.Command(aimdb, "conformance", plugin, "--url", "line://"+addr, "--option", line.FaultOption+"="+string(line.NoResubscribe),
		"--peer", linePeer+" "+addr, "--only", "outage/inbound,stdout/", "--timeout", "3s")
	out, err = broken.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("aimdb conformance on the plugin that does not subscribe again: %v, want exit code 1\n%s", err, out)
	}
	for _, want := range []string{"FAIL  outage/inbound: ", "subscribe again", fmt.Sprintf("2 passed, 1 failed, %d skipped", total-3)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("broken plugin output lacks %q:\n%s", want, out)
		}
	}
}

// freeTCP returns a free 127.0.0.1 TCP address for a line server the kit stops and
// starts again on it (package testport says why not one the kernel picks).
// runWithAimdb starts `aimdb run` with the example plugin and a UDP peer, and moves
// values both ways through the CLI.
func runWithAimdb(t *testing.T, aimdb, plugins string) {
	peer, err := startUDPPeer()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	sock, err := os.MkdirTemp("", "aimdb") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sock)
	cfg := filepath.Join(sock, "aimdb.hcl")
	src := fmt.Sprintf(`connector "udp" {
  url    = "udp://%s"
  listen = "%s"
}
record "room.setpoint" {
  buffer   = "single_latest"
  writable = true
  link_to "udp://room/setpoint" {}
}
record "room.temp" {
  buffer = "single_latest"
  link_from "udp://room/+/temp" {}
}
`, peer.Addr, peer.Target)
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "unix://" + filepath.Join(sock, "c.sock")
	var logs lockedBuf
	run := exec.Command(aimdb, "run", "--config", cfg, "--plugins", plugins, "--control", addr)
	run.Stdout, run.Stderr = &logs, &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	defer func() {
		_ = run.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = run.Process.Kill()
			<-done
		}
	}()
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(aimdb, append(args, "--connect", addr)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	up := false
	for i := 0; i < 200 && !up; i++ {
		select {
		case err := <-done:
			t.Fatalf("aimdb run exited: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		_, err := cli("record", "list")
		up = err == nil
	}
	if !up {
		t.Fatalf("aimdb did not come up\n%s", logs.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen, _ := peer.Observe(ctx, "room/setpoint")
	if out, err := cli("record", "set", "room.setpoint", "21.5"); err != nil {
		t.Fatalf("record set: %v\n%s\n%s", err, out, logs.String())
	}
	select {
	case p := <-seen:
		if string(p) != "21.5" {
			t.Errorf("the peer got %q on room/setpoint, want 21.5", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the peer saw nothing on room/setpoint\n%s", logs.String())
	}

	var got string
	for i := 0; i < 100; i++ {
		if err := peer.Inject(ctx, "room/kitchen/temp", []byte(`{"c":19.5}`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if out, err := cli("record", "get", "room.temp", "-o", "json"); err == nil {
			got = strings.TrimSpace(out)
			break
		}
	}
	if got != `{"c":19.5}` {
		t.Errorf("record get room.temp = %q, want {\"c\":19.5}\n%s", got, logs.String())
	}
}

// lockedBuf collects a process's output safely.
type lockedBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
