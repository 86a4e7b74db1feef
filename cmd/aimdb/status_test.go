package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clearScreen starts every frame of `aimdb status --watch`.
const clearScreen = "\x1b[H\x1b[2J"

// startWatch runs `aimdb status --watch` against in and returns its output so far.
func startWatch(t *testing.T, in *instance) (cmd *exec.Cmd, out *lockedWriter, errb *bytes.Buffer, done chan error) {
	t.Helper()
	cmd = exec.Command(aimdbBin, "status", "--watch")
	cmd.Env = append(os.Environ(), in.env...)
	out, errb = &lockedWriter{w: &bytes.Buffer{}}, &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd, out, errb, done
}

// setpointRow matches the setpoint record's row: VALUES/S and PRODUCED.
var setpointRow = regexp.MustCompile(`(?m)^setpoint\s+spmc_ring\s+([0-9.]+)\s+([0-9]+)\s`)

// frames splits watch output into its frames (the last may be incomplete).
func frames(out string) []string {
	parts := strings.Split(out, clearScreen)
	return parts[1:]
}

// TestStatusWatch: `aimdb status --watch` redraws the screen every second with the
// values of that moment (a record set in between shows up with its new count and a
// rate), and stops with exit code 0 on SIGINT; with the instance gone it stops with an
// error.
func TestStatusWatch(t *testing.T) {
	in := startInstance(t, recordsConfig)
	cmd, out, errb, done := startWatch(t, in)
	waitFor := func(what string, cond func(fs []string) bool) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			fs := frames(out.String())
			if cond(fs) {
				return fs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s; output:\n%q\n%s", what, out.String(), errb.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	produced := func(frame string) int {
		m := setpointRow.FindStringSubmatch(frame)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[2])
		return n
	}
	fs := waitFor("a first frame", func(fs []string) bool { return len(fs) >= 2 }) // the second has begun: the first is whole
	if !strings.Contains(fs[0], "(Ctrl-C to stop)") || produced(fs[0]) != 0 ||
		!strings.Contains(fs[0], "RECORD") || !strings.Contains(fs[0], "VALUES/S") {
		t.Fatalf("first frame:\n%s", fs[0])
	}
	before := len(fs)
	for _, v := range []string{"1", "2", "3"} {
		if r := aimdb(t, in.env, "record", "set", "setpoint", v); r.code != 0 {
			t.Fatal(r)
		}
	}
	fs = waitFor("a frame with the three values", func(fs []string) bool {
		return len(fs) >= 2 && produced(fs[len(fs)-2]) == 3
	})
	if len(fs)-before < 1 {
		t.Fatalf("no redraw after the values were set")
	}
	rated := false
	for _, f := range fs[before-1:] {
		if m := setpointRow.FindStringSubmatch(f); m != nil && m[1] != "0.0" {
			rated = true
		}
	}
	if !rated {
		t.Errorf("no frame shows setpoint's rate while it was written:\n%s", strings.Join(fs, "\n----\n"))
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("status --watch after SIGINT: %v\n%s", err, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("status --watch did not stop within 5 s of SIGINT")
	}

	// A watch whose instance goes away ends with an error.
	_, out, errb, done = startWatch(t, in)
	waitFor("a frame", func(fs []string) bool { return len(fs) >= 1 })
	in.stop(t)
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || errb.Len() == 0 {
			t.Errorf("status --watch when the instance stopped: %v, stderr %q", err, errb.String())
		}
		t.Logf("with the instance gone: %s", strings.TrimSpace(errb.String()))
	case <-time.After(10 * time.Second):
		t.Fatalf("status --watch did not stop within 10 s of its instance")
	}
}
