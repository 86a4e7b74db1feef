package conformance

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
)

// waitExit waits up to d for t to exit.
func waitExit(t Target, d time.Duration) bool {
	select {
	case <-t.Exited():
		return true
	case <-time.After(d):
		return false
	}
}

// fresh launches a process of its own for a check that ends it, with one instance.
func (r *runner) fresh(opts ProcessOptions) (Target, Instance, Link, error) {
	t, err := r.launch(opts)
	if err != nil {
		return nil, nil, Link{}, err
	}
	l := r.out(r.resource(0))
	in, err := r.build(t, r.spec("fresh", l))
	if err != nil {
		t.Kill()
		return nil, nil, Link{}, err
	}
	return t, in, l, nil
}

// checkPanicExit ends the plugin the way an unrecovered panic does (the Go runtime
// aborts the process): the exit is seen at once and a publish fails instead of hanging.
func checkPanicExit(r *runner) error {
	t, in, l, err := r.fresh(ProcessOptions{})
	if err != nil {
		return err
	}
	defer t.Kill()
	if err := syscall.Kill(t.Pid(), syscall.SIGABRT); err != nil {
		return fmt.Errorf("signal the plugin: %v", err)
	}
	ctx, cancel := context.WithTimeout(r.ctx, ExitBound)
	defer cancel()
	for {
		err := in.Publish(ctx, l.ID, []byte("after a crash"))
		if ctx.Err() != nil {
			return fmt.Errorf("a publish to a crashed plugin did not fail within %s", ExitBound)
		}
		if err != nil {
			break
		}
	}
	if !waitExit(t, ExitBound) {
		return fmt.Errorf("the plugin did not exit within %s of SIGABRT", ExitBound)
	}
	return nil
}

// checkShutdownGraceful asks a process with an open instance to shut down within
// two seconds: it must answer before the deadline.
func checkShutdownGraceful(r *runner) error {
	t, _, _, err := r.fresh(ProcessOptions{})
	if err != nil {
		return err
	}
	defer t.Kill()
	const deadline = 2 * time.Second
	ctx, cancel := context.WithTimeout(r.ctx, deadline)
	defer cancel()
	start := time.Now()
	err = t.Shutdown(ctx)
	took := time.Since(start)
	if ctx.Err() != nil || took >= deadline {
		return fmt.Errorf("shutdown did not finish within its %s deadline", deadline)
	}
	if err != nil {
		return fmt.Errorf("shutdown failed: %v", err)
	}
	return nil
}

// checkSigterm sends SIGTERM: the process must be gone within ExitBound.
func checkSigterm(r *runner) error {
	t, _, _, err := r.fresh(ProcessOptions{})
	if err != nil {
		return err
	}
	defer t.Kill()
	if err := syscall.Kill(t.Pid(), syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal the plugin: %v", err)
	}
	if !waitExit(t, ExitBound) {
		return fmt.Errorf("the plugin did not exit within %s of SIGTERM", ExitBound)
	}
	return nil
}

// checkHostDies starts the plugin under a shell that stands in for its host, builds an
// instance in it, kills the shell with SIGKILL and checks the orphaned plugin exits
// within ExitBound.
func checkHostDies(r *runner) error {
	sh, err := exec.LookPath("sh")
	if err != nil {
		return skipf("no sh to stand in for the host: %v", err)
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return skipf("needs /proc to watch the orphaned plugin")
	}
	cmd := exec.Command(sh, "-c", `"$0" & echo "pid $!"; wait`, r.cfg.Plugin)
	cmd.Env = append(append(os.Environ(), r.cfg.Env...),
		pluginwire.Handshake.MagicCookieKey+"="+pluginwire.Handshake.MagicCookieValue,
		fmt.Sprintf("PLUGIN_PROTOCOL_VERSIONS=%d", pluginwire.ProtocolVersion),
		"PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	// Stderr stays nil (/dev/null): a pipe would make Wait wait for the orphan too.
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the stand-in host: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid, addr := 0, ""
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(StartBound)
	for pid == 0 || addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				return fmt.Errorf("the plugin ended before its handshake")
			}
			if n, ok := strings.CutPrefix(l, "pid "); ok {
				pid, _ = strconv.Atoi(n)
			} else if f := strings.Split(l, "|"); len(f) >= 5 {
				addr = f[2] + ":" + f[3] // network:address
			}
		case <-timeout:
			return fmt.Errorf("no handshake within %s", StartBound)
		}
	}
	defer func() { _ = syscall.Kill(pid, syscall.SIGKILL) }()
	// An open instance, as a host has: the plugin must exit even when closing it hangs.
	if err := r.buildDirect(addr); err != nil {
		return err
	}
	if err := cmd.Process.Kill(); err != nil {
		return err
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(ExitBound)
	for time.Now().Before(deadline) {
		if !processAlive(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the plugin (pid %d) still ran %s after its host was killed", pid, ExitBound)
}

// cycle builds an instance with a link each way, publishes once and closes it.
func (r *runner) cycle(t Target, name string) error {
	l := r.out(r.resource(0))
	links := []Link{l}
	if r.kind.Has("inbound") {
		links = append(links, r.in(r.resource(1)))
	}
	in, err := r.build(t, r.spec(name, links...))
	if err != nil {
		return err
	}
	_ = r.publish(in, l.ID, []byte("cycle"))
	return r.close(in)
}

func fdCount(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// checkFDs runs build/publish/close cycles: the process's open files must not grow.
func checkFDs(r *runner) error {
	pid := r.target.Pid()
	if _, err := fdCount(pid); err != nil {
		return skipf("cannot count the plugin's open files: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := r.cycle(r.target, "fds-warm-up"); err != nil {
			return err
		}
	}
	before, _ := fdCount(pid)
	for i := 0; i < r.cfg.Cycles; i++ {
		if err := r.cycle(r.target, fmt.Sprintf("fds-%d", i)); err != nil {
			return fmt.Errorf("cycle %d: %w", i, err)
		}
	}
	time.Sleep(r.cfg.Quiet)
	after, _ := fdCount(pid)
	if after > before+3 {
		return fmt.Errorf("open files grew from %d to %d over %d build/close cycles", before, after, r.cfg.Cycles)
	}
	return nil
}

// goroutinesAfter runs n cycles in a fresh process, then counts its goroutines.
func (r *runner) goroutinesAfter(n int) (int, error) {
	t, err := r.launchDumpable()
	if err != nil {
		return 0, err
	}
	defer t.Kill()
	for i := 0; i < n; i++ {
		if err := r.cycle(t, fmt.Sprintf("goroutines-%d", i)); err != nil {
			return 0, fmt.Errorf("cycle %d: %w", i, err)
		}
	}
	return r.countGoroutines(t)
}

// launchDumpable launches a fresh process that dumps every goroutine on SIGQUIT.
func (r *runner) launchDumpable() (Target, error) {
	return r.launch(ProcessOptions{Env: []string{"GOTRACEBACK=all"}})
}

// countGoroutines lets t settle for the quiet time, then makes it dump its goroutines
// (SIGQUIT; t must come from launchDumpable), which ends it, and counts them.
func (r *runner) countGoroutines(t Target) (int, error) {
	time.Sleep(r.cfg.Quiet)
	if err := syscall.Kill(t.Pid(), syscall.SIGQUIT); err != nil {
		return 0, err
	}
	if !waitExit(t, ExitBound) {
		return 0, fmt.Errorf("no goroutine dump: the plugin did not exit on SIGQUIT")
	}
	// The dump is whole once the plugin's stderr is read to its end (a fixed wait
	// cut it short on a loaded machine).
	if p, ok := t.(*process); ok {
		p.waitStderrRead(ExitBound)
	}
	dump := t.Stderr()
	if !strings.Contains(dump, "SIGQUIT") {
		return 0, skipf("the plugin printed no goroutine dump on SIGQUIT")
	}
	return strings.Count(dump, "\ngoroutine "), nil
}

// checkGoroutines compares the plugin's goroutines after 2 and after 2+Cycles
// build/close cycles.
func checkGoroutines(r *runner) error {
	base, err := r.goroutinesAfter(2)
	if err != nil {
		return err
	}
	n, err := r.goroutinesAfter(2 + r.cfg.Cycles)
	if err != nil {
		return err
	}
	if n > base+5 {
		return fmt.Errorf("goroutines grew from %d to %d over %d more build/close cycles", base, n, r.cfg.Cycles)
	}
	return nil
}
