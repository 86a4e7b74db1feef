package conformance_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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

// copyExample copies examples/udp to a directory outside the repository, as a third
// party would have it: its replace directive points at the repository and its go.sum
// is the repository's, so it builds offline from the module cache.
func copyExample(t *testing.T, root string) string {
	t.Helper()
	src := filepath.Join(root, "examples", "udp")
	dst := filepath.Join(t.TempDir(), "udp-connector")
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

// TestExampleAsThirdParty builds the UDP example outside the repository, runs its own
// tests there (which put it through the conformance kit), and runs it as a plugin of
// a real `aimdb run`, setting and getting records through the CLI.
func TestExampleAsThirdParty(t *testing.T) {
	root := repoRoot(t)
	dir := copyExample(t, root)
	plugins := filepath.Join(t.TempDir(), "plugins")
	offlineGo(t, dir, 3*time.Minute, "build", "-o", filepath.Join(plugins, "udp"), ".")

	t.Run("own-tests", func(t *testing.T) {
		out := offlineGo(t, dir, 4*time.Minute, "test", "-count=1", "-v", "./...")
		for _, want := range []string{"--- PASS: TestConformance", "--- PASS: TestConformance/publish/single", "--- PASS: TestConformance/outage/recover", "ok  \tgithub.com/aimdb-dev/aimdb-go/examples/udp"} {
			if !strings.Contains(out, want) {
				t.Errorf("the example's tests did not print %q:\n%s", want, out)
			}
		}
	})

	aimdb := filepath.Join(t.TempDir(), "aimdb")
	offlineGo(t, root, 3*time.Minute, "build", "-o", aimdb, "./cmd/aimdb")
	t.Run("aimdb-run", func(t *testing.T) {
		runWithAimdb(t, aimdb, plugins)
	})
	t.Run("aimdb-conformance", func(t *testing.T) {
		conformanceCommand(t, aimdb, filepath.Join(plugins, "udp"))
	})
}

// freeUDP returns a free 127.0.0.1 UDP address.
func freeUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// conformanceCommand runs `aimdb conformance` with this test binary as the peer
// program: the example passes the checks it selects, the broken plugin fails.
func conformanceCommand(t *testing.T, aimdb, plugin string) {
	addr, target := freeUDP(t), freeUDP(t)
	junit := filepath.Join(t.TempDir(), "conformance.xml")
	cmd := exec.Command(aimdb, "conformance", plugin, "--url", "udp://"+addr, "--option", "listen="+target,
		"--peer", os.Args[0], "--only", "publish/single,inbound/,outage/", "--junit", junit)
	cmd.Env = append(os.Environ(), peerEnv+"="+addr+" "+target)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aimdb conformance: %v\n%s", err, out)
	}
	for _, want := range []string{"pass  handshake/start", "pass  publish/single", "pass  inbound/routes", "pass  inbound/wildcards",
		"skip  inbound/ack-commit: the plugin does not declare capability \"ack-commit\"", "pass  outage/down", "pass  outage/recover",
		"skip  config/secrets: not selected", "6 passed, 0 failed, 23 skipped"} {
		if !strings.Contains(string(out), want+"\n") && !strings.Contains(string(out), want+" (") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	x, err := os.ReadFile(junit)
	if err != nil || !strings.Contains(string(x), `<testsuite name="conformance `+plugin+`" tests="29" failures="0" skipped="23"`) {
		t.Errorf("junit file: %v\n%s", err, x)
	}

	broken := exec.Command(aimdb, "conformance", filepath.Join(pluginDir, "broken"), "--url", "broken://"+addr,
		"--option", "listen="+target, "--peer", os.Args[0], "--only", "inbound/routes,stdout/", "--timeout", "2s")
	broken.Env = cmd.Env
	out, err = broken.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("aimdb conformance on the broken plugin: %v, want exit code 1\n%s", err, out)
	}
	for _, want := range []string{"FAIL  inbound/routes: ", "FAIL  stdout/silent: ", "1 passed, 2 failed, 26 skipped"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("broken plugin output lacks %q:\n%s", want, out)
		}
	}
}

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
