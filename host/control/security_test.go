package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// squatterEnv makes the test binary a squatter instead of running tests: as another
// user it listens on sockets in the directory the variable names (see squat).
const squatterEnv = "AIMDB_TEST_SQUATTER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(squatterEnv); dir != "" {
		os.Exit(squat(dir))
	}
	goleak.VerifyTestMain(m)
}

// squat listens on dir/s.sock and, in a directory of its own, dir/own/s.sock, prints
// "ready", then reports each line a client sends as "got LINE" until stdin closes.
func squat(dir string) int {
	own := filepath.Join(dir, "own")
	if err := os.Mkdir(own, 0o755); err != nil {
		fmt.Println(err)
		return 1
	}
	for _, path := range []string{filepath.Join(dir, "s.sock"), filepath.Join(own, "s.sock")} {
		l, err := net.Listen("unix", path)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		_ = os.Chmod(path, 0o666)
		go func() {
			for {
				nc, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer nc.Close()
					sc := bufio.NewScanner(nc)
					for sc.Scan() {
						fmt.Println("got " + sc.Text())
					}
				}()
			}
		}()
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// asOtherUser returns the command prefix that runs a program as uid and gid 65534:
// setpriv, else runuser. It skips the test without either, or fails it under CI=true.
func asOtherUser(t *testing.T) []string {
	t.Helper()
	if p, err := exec.LookPath("setpriv"); err == nil {
		return []string{p, "--reuid=65534", "--regid=65534", "--clear-groups", "--"}
	}
	if p, err := exec.LookPath("runuser"); err == nil {
		return []string{p, "-u", "nobody", "--"}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("neither setpriv nor runuser is installed (package util-linux): the squatter test cannot run as a second user")
	}
	t.Skip("neither setpriv nor runuser is installed (package util-linux)")
	return nil
}

// TestForeignSocketRefused has a second user (uid 65534) squat a socket path, as in a
// shared directory, and in a directory of its own: root's client and server refuse
// both, naming the owner, and the squatter receives nothing from them.
func TestForeignSocketRefused(t *testing.T) {
	if os.Getuid() != 0 {
		const why = "runs as root only: it needs a second user to own the squatted socket, and root is the case the owner check once skipped"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	prefix := asOtherUser(t)
	dir := t.TempDir()
	// The squatter must reach its binary and the shared directory.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "squatter")
	copyFile(t, self, bin)
	shared := filepath.Join(dir, "shared") // like /tmp: root's, writable by everyone, sticky
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(prefix[0], append(prefix[1:], bin, "-test.run=^$")...)
	cmd.Env = append(os.Environ(), squatterEnv+"="+shared)
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
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the squatter exited")
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no word from the squatter within 10s")
		}
		return ""
	}
	if l := next(); l != "ready" {
		t.Fatalf("squatter: %s", l)
	}

	squatted := filepath.Join(shared, "s.sock")
	inOwnDir := filepath.Join(shared, "own", "s.sock")
	ctx := context.Background()
	for _, c := range []struct {
		name, want string
		err        func() error
	}{
		{"client, squatted socket", "control socket " + squatted + " belongs to user id 65534", func() error {
			_, err := Dial(ctx, "unix://"+squatted)
			return err
		}},
		{"server, squatted socket", "control socket " + squatted + " belongs to user id 65534", func() error {
			_, err := Listen("unix://" + squatted)
			return err
		}},
		{"client, squatter's directory", "directory of the control socket " + filepath.Dir(inOwnDir) + " belongs to user id 65534", func() error {
			_, err := Dial(ctx, "unix://"+inOwnDir)
			return err
		}},
		{"server, squatter's directory", "directory of the control socket " + filepath.Dir(inOwnDir) + " belongs to user id 65534", func() error {
			_, err := Listen("unix://" + filepath.Join(shared, "own", "mine.sock"))
			return err
		}},
	} {
		err := c.err()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "not to you (user id 0") {
			t.Errorf("%s: %v\nwant an error containing %q", c.name, err, c.want)
		}
	}
	// The squatter was listening all along: a plain connection reaches it, and the
	// first line it got is this one, so nothing of the refused calls arrived.
	nc, err := net.Dial("unix", squatted)
	if err != nil {
		t.Fatalf("the squatter is not listening: %v", err)
	}
	defer nc.Close()
	fmt.Fprintln(nc, "probe")
	if l := next(); l != "got probe" {
		t.Errorf("squatter received %q before the probe", l)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestListenMakesPrivateDirectory: a missing socket directory (as /run/aimdb on a fresh
// system) is created with mode 0700.
func TestListenMakesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "aimdb")
	l, err := Listen("unix://" + filepath.Join(dir, "aimdb.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, %v; want 0700", st.Mode().Perm(), err)
	}
	if _, err := Listen("unix://" + filepath.Join(t.TempDir(), "no", "such", "x.sock")); err == nil || !strings.Contains(err.Error(), "creating its directory") {
		t.Errorf("listen two directories deep into nothing: %v", err)
	}
}

func TestDefaultAddress(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	addr, err := DefaultAddress()
	want := "unix://" + filepath.Join(xdg, "aimdb.sock")
	if os.Getuid() == 0 {
		want = "unix://" + RootSocket
	}
	if err != nil || addr != want {
		t.Errorf("DefaultAddress() = %q, %v; want %q", addr, err, want)
	}
	if os.Getuid() != 0 {
		t.Setenv("XDG_RUNTIME_DIR", "")
		if _, err := DefaultAddress(); err == nil || !strings.Contains(err.Error(), "XDG_RUNTIME_DIR is not set") {
			t.Errorf("without XDG_RUNTIME_DIR: %v", err)
		}
	}
}

// TestIdleTimeout: a silent connection is closed after IdleTimeout and told why; one
// that pings stays, and so does a Client, which pings by itself.
func TestIdleTimeout(t *testing.T) {
	const idle = 500 * time.Millisecond
	addr, _ := start(t, newMem(8, testRecords...), Options{IdleTimeout: idle})
	silent := dialRaw(t, addr)
	pinging := dialRaw(t, addr)
	defer func(d time.Duration) { keepAliveEvery = d }(keepAliveEvery)
	keepAliveEvery = idle / 10
	cl, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	began := time.Now()
	for i := 1; time.Since(began) < 4*idle; i++ {
		pinging.send(fmt.Sprintf(`{"t":"ping","id":%d}`, i))
		if f := pinging.read(); f.T != TagPong {
			t.Fatalf("pinging connection got %+v", f)
		}
		time.Sleep(idle / 10)
	}
	f, ok := silent.tryRead(5 * time.Second)
	if !ok || f.Err != CodeLimit || !strings.Contains(f.Msg, "without a frame") {
		t.Fatalf("silent connection got %+v (%v), want the idle notice", f, ok)
	}
	if _, err := silent.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("silent connection still open after the notice: %v", err)
	}
	if err := cl.Ping(context.Background()); err != nil {
		t.Errorf("client with keep-alive was closed: %v", err)
	}
}

// TestEvictOldestIdle: with every connection taken, a new one closes the connection
// idle longest (and tells it why), never one that just spoke.
func TestEvictOldestIdle(t *testing.T) {
	addr, _ := start(t, newMem(8, testRecords...), Options{MaxConns: 2})
	oldest := dialRaw(t, addr)
	newer := dialRaw(t, addr)
	newer.send(`{"t":"ping","id":1}`)
	newer.read()
	time.Sleep(evictIdle + 100*time.Millisecond) // both idle now; oldest for longer
	newer.send(`{"t":"ping","id":2}`)
	newer.read()
	// newer just spoke, oldest has been quiet longer than evictIdle: oldest makes room.
	third := dialRaw(t, addr)
	third.send(`{"t":"ping","id":3}`)
	if f := third.read(); f.T != TagPong {
		t.Fatalf("new connection got %+v, want pong", f)
	}
	f := oldest.read()
	if f.Err != CodeLimit || !strings.Contains(f.Msg, "idle longest") {
		t.Fatalf("evicted connection got %+v, want the eviction notice", f)
	}
	newer.send(`{"t":"ping","id":4}`)
	if f := newer.read(); f.T != TagPong {
		t.Fatalf("busy connection got %+v after the eviction", f)
	}
	// Now both connections spoke within evictIdle: a fourth is refused.
	fourth := dialRaw(t, addr)
	fourth.expectErr(CodeLimit, "every one is busy")
}
