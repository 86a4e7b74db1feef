package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/spf13/cobra"
)

// aimdbBin is the aimdb binary built once for all tests: the CLI is tested as a user
// runs it. pluginDir holds the loopback test plugin, realPluginDir the bundled plugins.
var aimdbBin, pluginDir, realPluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aimdb-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	aimdbBin = filepath.Join(dir, "aimdb")
	pluginDir = filepath.Join(dir, "plugins")
	realPluginDir = filepath.Join(dir, "real-plugins")
	// Build the binary and the plugins side by side.
	pluginErr := make(chan error, 1)
	go func() {
		err := testbuild.Plugins(pluginDir, "loopback")
		if err == nil {
			err = testbuild.Packages(realPluginDir, "./plugins/mqtt", "./plugins/http", "./plugins/kafka", "./plugins/knx", "./plugins/modbus")
		}
		pluginErr <- err
	}()
	build := exec.Command("go", "build", "-o", aimdbBin, ".")
	out, err := build.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("building aimdb: %v\n%s", err, out)
	}
	if perr := <-pluginErr; err == nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished aimdb invocation.
type result struct {
	code           int
	stdout, stderr string
}

// aimdb runs the binary with args and waits for it (at most 30 s).
func aimdb(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, aimdbBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("aimdb %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code, out.String(), errb.String()}
}

// instance is a running `aimdb run` process.
type instance struct {
	cmd    *exec.Cmd
	addr   string
	env    []string
	stderr *bytes.Buffer
	done   chan error
}

// startInstance runs `aimdb run` with the configuration src and waits until its
// control socket answers.
func startInstance(t *testing.T, src string, extra ...string) *instance {
	t.Helper()
	dir, err := os.MkdirTemp("", "aimdb") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "aimdb.hcl")
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "unix://" + filepath.Join(dir, "c.sock")
	args := append([]string{"run", "--config", cfg, "--plugins", pluginDir, "--control", addr}, extra...)
	cmd := exec.Command(aimdbBin, args...)
	stderr := &bytes.Buffer{}
	cmd.Stderr = &lockedWriter{w: stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{cmd: cmd, addr: addr, env: []string{"AIMDB_CONNECT=" + addr}, stderr: stderr, done: make(chan error, 1)}
	go func() { in.done <- cmd.Wait() }()
	t.Cleanup(func() { in.stop(t) })
	for i := 0; i < 200; i++ {
		c, err := control.Dial(context.Background(), addr)
		if err == nil {
			c.Close()
			return in
		}
		select {
		case err := <-in.done:
			in.done <- err
			t.Fatalf("aimdb run exited early: %v\n%s", err, in.logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("control socket %s did not come up\n%s", addr, in.logs())
	return nil
}

func (in *instance) logs() string {
	lw := in.cmd.Stderr.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return in.stderr.String()
}

// stop sends SIGTERM, then SIGKILL after 5 s, and returns the exit code.
func (in *instance) stop(t *testing.T) int {
	t.Helper()
	if in.cmd.ProcessState != nil {
		return in.cmd.ProcessState.ExitCode()
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-in.done:
		in.done <- err
	case <-time.After(5 * time.Second):
		_ = in.cmd.Process.Kill()
		err := <-in.done
		in.done <- err
		t.Errorf("aimdb run did not stop within 5s of SIGTERM\n%s", in.logs())
	}
	return in.cmd.ProcessState.ExitCode()
}

const recordsConfig = `record "sensors.temp" {
  capacity = 8
}
record "sensors.hum" {}
record "state.mode" {
  buffer   = "single_latest"
  writable = true
}
record "setpoint" {
  buffer   = "spmc_ring"
  capacity = 4
  writable = true
}
record "status" {
  buffer = "single_latest"
}
`

func TestRecordCommands(t *testing.T) {
	in := startInstance(t, recordsConfig)

	r := aimdb(t, in.env, "record", "list")
	if r.code != 0 {
		t.Fatalf("record list: %d %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "KEY") || !strings.Contains(r.stdout, "state.mode") {
		t.Errorf("record list:\n%s", r.stdout)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		want := map[string]string{"sensors.temp": "spmc_ring 8 false", "state.mode": "single_latest - true", "setpoint": "spmc_ring 4 true", "status": "single_latest - false"}[f[0]]
		if want != "" && strings.Join(f[1:4], " ") != want {
			t.Errorf("row %q: want %s", l, want)
		}
	}

	if r := aimdb(t, in.env, "record", "get", "state.mode"); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Errorf("get before set: %+v", r)
	}
	if r := aimdb(t, in.env, "record", "set", "state.mode", `{"mode":"auto"}`); r.code != 0 {
		t.Fatalf("set: %+v", r)
	}
	if r := aimdb(t, in.env, "record", "get", "state.mode"); r.code != 0 || r.stdout != "{\"mode\":\"auto\"}\n" {
		t.Errorf("get: %+v", r)
	}
	// Flags after the arguments, and a negative number as a value.
	if r := aimdb(t, nil, "record", "set", "setpoint", "-5", "--connect", in.addr); r.code != 0 {
		t.Fatalf("set -5: %+v", r)
	}
	if r := aimdb(t, nil, "record", "get", "--connect", in.addr, "setpoint", "-o", "json"); r.code != 0 || r.stdout != "-5\n" {
		t.Errorf("get setpoint: %+v", r)
	}

	// Denied: not writable.
	r = aimdb(t, in.env, "record", "set", "status", `"up"`)
	if r.code != 1 || !strings.Contains(r.stderr, `denied: record "status" is not writable`) {
		t.Errorf("set on a read-only record: %+v", r)
	}
	// Usage errors exit 2.
	for _, args := range [][]string{
		{"record", "set", "state.mode", "auto"},
		{"record", "set", "state.mode"},
		{"record", "get", "a", "b"},
		{"record", "get", "--bogus", "a"},
		{"record", "watch", "a.#.b"},
		{"record", "list", "-o", "yaml"},
		{"record", "frobnicate"},
	} {
		if r := aimdb(t, in.env, args...); r.code != 2 {
			t.Errorf("aimdb %v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
	if r := aimdb(t, in.env, "record", "get", "no.such"); r.code != 1 || !strings.Contains(r.stderr, `not_found: unknown record "no.such"`) {
		t.Errorf("get unknown: %+v", r)
	}
	// Nobody listening.
	if r := aimdb(t, nil, "record", "list", "--connect", "unix:///nonexistent/aimdb.sock"); r.code != 1 || !strings.Contains(r.stderr, "cannot reach aimdb") {
		t.Errorf("list without instance: %+v", r)
	}
}

func TestRecordWatch(t *testing.T) {
	in := startInstance(t, recordsConfig)
	if r := aimdb(t, in.env, "record", "set", "state.mode", `"auto"`); r.code != 0 {
		t.Fatal(r)
	}
	// A pattern watch: the snapshot of the single_latest record first, then new values.
	watch := exec.Command(aimdbBin, "record", "watch", "#", "-n", "4", "-o", "json")
	watch.Env = append(os.Environ(), in.env...)
	var outBuf, errb bytes.Buffer
	out := &lockedWriter{w: &outBuf}
	watch.Stdout, watch.Stderr = out, &errb
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- watch.Wait() }()
	// The watch is subscribed once its snapshot was printed.
	for i := 0; i < 200 && !strings.Contains(out.String(), "snapshot"); i++ {
		time.Sleep(25 * time.Millisecond)
	}
	for _, v := range []string{"1", "2", "3"} {
		if r := aimdb(t, in.env, "record", "set", "setpoint", v); r.code != 0 {
			t.Fatal(r)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch: %v\n%s", err, errb.String())
		}
	case <-time.After(20 * time.Second):
		watch.Process.Kill()
		t.Fatalf("watch -n 4 did not end; output so far:\n%s", out.String())
	}
	want := `{"topic":"state.mode","snapshot":true,"data":"auto"}
{"topic":"setpoint","seq":1,"data":1}
{"topic":"setpoint","seq":2,"data":2}
{"topic":"setpoint","seq":3,"data":3}
`
	if out.String() != want {
		t.Errorf("watch output:\n%s\nwant:\n%s", out.String(), want)
	}

	// Table output: the snapshot is marked.
	if r := aimdb(t, in.env, "record", "watch", "state.*", "-n", "1"); r.code != 0 || r.stdout != "state.mode\t\"auto\"  (snapshot)\n" ||
		!strings.Contains(r.stderr, "watching 1 record(s): state.mode") {
		t.Errorf("watch table: %+v", r)
	}
	// A ring's newest value comes first too.
	if r := aimdb(t, in.env, "record", "watch", "setpoint", "-n", "1", "-o", "json"); r.code != 0 || r.stdout != `{"topic":"setpoint","snapshot":true,"data":3}`+"\n" {
		t.Errorf("watch of a ring with a value: %+v", r)
	}
	r := aimdb(t, in.env, "record", "watch", "nothing.*")
	if r.code != 1 || !strings.Contains(r.stderr, `no record matches "nothing.*"`) {
		t.Errorf("watch matching nothing: %+v", r)
	}
}

func TestGracefulShutdown(t *testing.T) {
	in := startInstance(t, recordsConfig)
	path := strings.TrimPrefix(in.addr, "unix://")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v", st.Mode().Perm(), err)
	}
	if code := in.stop(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM\n%s", code, in.logs())
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	logs := in.logs()
	if !strings.Contains(logs, "control="+in.addr) || !strings.Contains(logs, "stopped cleanly") || strings.Contains(logs, "[WARN]") {
		t.Errorf("logs:\n%s", logs)
	}
}

// TestControlSocketRawFrames speaks the protocol by hand to a running process: a
// malformed frame gets an error reply and the connection stays usable.
func TestControlSocketRawFrames(t *testing.T) {
	in := startInstance(t, recordsConfig)
	nc, err := net.Dial("unix", strings.TrimPrefix(in.addr, "unix://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(nc)
	exchange := func(send string) string {
		t.Helper()
		if _, err := nc.Write([]byte(send + "\n")); err != nil {
			t.Fatal(err)
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(line)
	}
	if got := exchange(`{"t":"req","id":1,`); !strings.HasPrefix(got, `{"t":"reply","err":"bad_request","msg":"malformed frame`) {
		t.Errorf("malformed frame: %s", got)
	}
	if got := exchange(`{"t":"write","id":2,"topic":"status","payload":"up"}`); got != `{"t":"reply","id":2,"err":"denied","msg":"record \"status\" is not writable: write denied","topic":"status"}` {
		t.Errorf("denied write: %s", got)
	}
	if got := exchange(`{"t":"req","id":3,"method":"record.get","params":{"key":"status"}}`); got != `{"t":"reply","id":3,"err":"not_found","msg":"record \"status\": no value yet"}` {
		t.Errorf("get without value: %s", got)
	}
	if got := exchange(`{"t":"ping","id":4}`); got != `{"t":"pong","id":4}` {
		t.Errorf("ping after errors: %s", got)
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	in := startInstance(t, recordsConfig)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "a.hcl")
	os.WriteFile(cfg, []byte(recordsConfig), 0o600)
	r := aimdb(t, nil, "run", "--config", cfg, "--control", in.addr)
	if r.code != 1 || !strings.Contains(r.stderr, "another instance is listening") {
		t.Errorf("second instance on one socket: %+v", r)
	}
}

const badConfig = `record "a" {
  buffer = "ring"
}
record "b" {
  capacity = -1
  link_to "mqtt://x/#" {}
}
record "a" {}
connector "mqtt" {
  url = "mqtt//nope"
}
`

func TestConfigErrorsWithPositions(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(cfg, []byte(badConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		cfg + `:2:12: Invalid buffer kind: record "a": buffer "ring" is not one of spmc_ring, single_latest, mailbox`,
		cfg + `:5:14: Invalid capacity: record "b": capacity -1 is out of range 1..1048576`,
		cfg + `:6:11: Invalid link URL: record "b": link_to "mqtt://x/#": a destination cannot hold the wildcards + or #`,
		cfg + `:8:8: Duplicate record: record "a" is already defined at ` + cfg + `:1:8`,
		cfg + `:10:9: Invalid URL: connector "mqtt": url "mqtt//nope": missing "://" (want scheme://resource)`,
	}
	for _, args := range [][]string{
		{"check", "--config", cfg},
		{"run", "--config", cfg, "--control", "unix://" + filepath.Join(dir, "s.sock")},
	} {
		cmd := args[0]
		r := aimdb(t, nil, args...)
		if r.code != 1 {
			t.Errorf("%s: exit %d, want 1", cmd, r.code)
		}
		got := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s stderr:\n%s\nwant:\n%s", cmd, r.stderr, strings.Join(want, "\n"))
		}
	}
	if r := aimdb(t, nil, "check", "--config", filepath.Join(dir, "none.hcl")); r.code != 1 || !strings.Contains(r.stderr, "none.hcl") {
		t.Errorf("check missing file: %+v", r)
	}
}

func TestCheckOK(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ok.hcl")
	os.WriteFile(cfg, []byte(recordsConfig), 0o600)
	r := aimdb(t, nil, "check", "--config", cfg)
	if r.code != 0 || r.stdout != cfg+": ok: 5 record(s), 0 link(s), 0 connector instance(s)\n" {
		t.Errorf("check: %+v", r)
	}
	// The demo needs plugins; without a plugin directory every instance says so.
	demo, err := os.ReadFile("demo.hcl")
	if err != nil {
		t.Fatal(err)
	}
	line := 1 + strings.Count(string(demo[:strings.Index(string(demo), `connector "mqtt"`)]), "\n")
	r = aimdb(t, nil, "check", "--config=demo", "--plugins", filepath.Join(dir, "none"))
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf(`demo.hcl:%d:11: Invalid configuration: connector instance "mqtt": no connector kind "mqtt"`, line)) ||
		!strings.Contains(r.stderr, "plugin directory "+filepath.Join(dir, "none")) {
		t.Errorf("check demo without plugins: %+v", r)
	}
}

func TestHelpAndUsage(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			path := sub.CommandPath()
			r := aimdb(t, nil, append(strings.Fields(strings.TrimPrefix(path, "aimdb ")), "--help")...)
			if r.code != 0 || !strings.Contains(r.stdout, "usage: "+path) {
				t.Errorf("%s --help: exit %d\n%s", path, r.code, r.stdout)
			}
			if !sub.HasSubCommands() && !strings.Contains(r.stdout, "examples:") {
				t.Errorf("%s --help has no examples:\n%s", path, r.stdout)
			}
			walk(sub)
		}
	}
	walk(newApp().newRootCmd())
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		if r := aimdb(t, nil, args...); r.code != 0 || !strings.Contains(r.stdout, "record watch") || !strings.Contains(r.stdout, "plugins list") {
			t.Errorf("aimdb %v: %+v", args, r)
		}
	}
	if r := aimdb(t, nil, "help", "record", "watch"); r.code != 0 || !strings.Contains(r.stdout, "usage: aimdb record watch PATTERN") {
		t.Errorf("help record watch: %+v", r)
	}
	if r := aimdb(t, nil, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "aimdb dev (go") {
		t.Errorf("--version: %+v", r)
	}
	if r := aimdb(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "aimdb dev (go") {
		t.Errorf("version: %+v", r)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"launch"}, `unknown command "launch"`},
		{[]string{"record"}, "aimdb record: missing subcommand"},
		{[]string{"record", "lsit"}, `unknown subcommand "lsit" (did you mean list`},
		{[]string{"help", "launch"}, `no command "launch"`},
		{[]string{"run", "--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"run", "--drain", "0s"}, "--drain-timeout must be positive"}, // --drain is its alias
		{[]string{"completion", "tcsh"}, `no completion for shell "tcsh"`},
	} {
		if r := aimdb(t, nil, c.args...); r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("aimdb %v: exit %d, want 2 and %q\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
	if r := aimdb(t, nil, "demo", "--print"); r.code != 0 || !strings.Contains(r.stdout, `connector "mqtt"`) {
		t.Errorf("demo --print: %+v", r)
	}
}

// TestCompletion: the scripts for each shell, and record keys completed from the
// running instance (only writable ones for record set).
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if r := aimdb(t, nil, "completion", shell); r.code != 0 || !strings.Contains(r.stdout, "__complete") {
			t.Errorf("completion %s: exit %d\n%.300s", shell, r.code, r.stdout)
		}
	}
	in := startInstance(t, recordsConfig)
	complete := func(args ...string) string {
		t.Helper()
		r := aimdb(t, in.env, append([]string{"__complete"}, args...)...)
		if r.code != 0 {
			t.Fatalf("__complete %v: %+v", args, r)
		}
		return r.stdout
	}
	if got := complete("record", "get", ""); got != "sensors.temp\nsensors.hum\nstate.mode\nsetpoint\nstatus\naimdb.dead_letters\n:4\n" {
		t.Errorf("keys for record get:\n%s", got)
	}
	if got := complete("record", "set", "s"); got != "state.mode\nsetpoint\n:4\n" {
		t.Errorf("writable keys starting with s for record set:\n%s", got)
	}
	if got := complete("record", "watch", "sensors."); got != "sensors.temp\nsensors.hum\n:4\n" {
		t.Errorf("keys for record watch:\n%s", got)
	}
	if got := complete("rec"); !strings.HasPrefix(got, "record\t") {
		t.Errorf("command completion:\n%s", got)
	}
}

// TestDefaultPaths: without --config, ./aimdb.hcl; without --plugins, ./bin/plugins,
// else the plugins folder beside the binary; a folder of Go sources is named as one.
func TestDefaultPaths(t *testing.T) {
	dir := t.TempDir()
	in := func(args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, aimdbBin, args...)
		cmd.Dir = dir
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
	}
	if _, err := os.Stat("/etc/aimdb/aimdb.hcl"); err != nil {
		if r := in("check"); r.code != 1 || !strings.Contains(r.stderr, "no configuration: neither "+filepath.Join(dir, "aimdb.hcl")+" nor /etc/aimdb/aimdb.hcl exists") {
			t.Errorf("check without a configuration: %+v", r)
		}
	}
	os.WriteFile(filepath.Join(dir, "aimdb.hcl"), []byte(loopbackConfig), 0o600)
	// No ./bin/plugins: the plugins beside the binary serve.
	if r := in("check"); r.code != 0 || r.stdout != "aimdb.hcl: ok: 2 record(s), 2 link(s), 1 connector instance(s)\n" {
		t.Errorf("check with the defaults: %+v", r)
	}
	if r := in("plugins", "list"); r.code != 0 || !strings.Contains(r.stdout, "loopback") {
		t.Errorf("plugins list with the default directory: %+v", r)
	}
	// ./bin/plugins comes first; here it holds sources, as a checkout's plugins folder.
	src := filepath.Join(dir, "bin", "plugins", "mqtt")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n"), 0o644)
	want := "plugin directory " + filepath.Join("bin", "plugins") + ": this is a source folder: run `make build`; plugins are in bin/plugins"
	for _, args := range [][]string{{"check"}, {"plugins", "list"}, {"plugins", "list", "--plugins", "bin/plugins"}} {
		if r := in(args...); r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("%v with a source folder: %+v", args, r)
		}
	}
}

// lockedWriter lets the test read a process's output while it is written.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

const loopbackConfig = `connector "lb" {
  plugin = "loopback"
  inject = "sync"
}
record "cmd.in" {
  buffer   = "single_latest"
  writable = true
  link_to "lb://echo/x" {}
}
record "echo.out" {
  buffer = "single_latest"
  link_from "lb://echo/+" {}
}
`

// TestLoopbackPlugin runs the hub with a real plugin: a value set through the control
// socket goes out through the plugin and comes back into another record.
func TestLoopbackPlugin(t *testing.T) {
	in := startInstance(t, loopbackConfig)
	watch := exec.Command(aimdbBin, "record", "watch", "echo.*", "-n", "1", "-o", "json")
	watch.Env = append(os.Environ(), in.env...)
	var outBuf bytes.Buffer
	out := &lockedWriter{w: &outBuf}
	watch.Stdout = out
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- watch.Wait() }()
	// Set until the watcher has it: the watch may subscribe after the first set.
	for i := 0; ; i++ {
		if r := aimdb(t, in.env, "record", "set", "cmd.in", `{"n":`+strconv.Itoa(i)+`}`); r.code != 0 {
			t.Fatalf("set: %+v", r)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
		case <-time.After(200 * time.Millisecond):
			if i < 50 {
				continue
			}
			watch.Process.Kill()
			t.Fatalf("no value came back through the loopback plugin\n%s", in.logs())
		}
		break
	}
	// The first value is an event, or a snapshot when it arrived before the watch.
	if o := out.String(); !strings.HasPrefix(o, `{"topic":"echo.out",`) || !strings.Contains(o, `"data":{"n":`) {
		t.Errorf("watch output %q", out.String())
	}
	r := aimdb(t, in.env, "record", "set", "echo.out", `1`)
	if r.code != 1 || !strings.Contains(r.stderr, `denied: record "echo.out"`) {
		t.Errorf("set on a record fed by link_from: %+v", r)
	}
	r = aimdb(t, in.env, "record", "list", "-o", "json")
	var recs []control.RecordInfo
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || len(recs) != 3 {
		t.Fatalf("record list -o json: %v\n%s", err, r.stdout)
	}
	if recs[0].Links[0].Counters["delivered"] == 0 || recs[1].Links[0].Counters["received"] == 0 {
		t.Errorf("link counters: %+v / %+v", recs[0].Links, recs[1].Links)
	}
	r = aimdb(t, in.env, "graph")
	if r.code != 0 || !strings.Contains(r.stdout, "cmd.in") || !strings.Contains(r.stdout, "lb://echo/x") {
		t.Errorf("graph: %+v", r)
	}
	if code := in.stop(t); code != 0 {
		t.Errorf("exit code %d\n%s", code, in.logs())
	}
	// "aimdb running" comes once, after the connector instance started (the plugin's
	// own lines are relayed asynchronously, so the host's line is what counts); a clean
	// stop warns about nothing.
	logs := in.logs()
	built, running := strings.Index(logs, "connector instance started"), strings.Index(logs, "aimdb running")
	if built < 0 || running < built || strings.Count(logs, "aimdb running") != 1 {
		t.Errorf("want one \"aimdb running\" after \"connector instance started\":\n%s", logs)
	}
	if strings.Contains(logs, "[WARN]") || strings.Contains(logs, "[ERROR]") {
		t.Errorf("warnings or errors on a clean stop:\n%s", logs)
	}
}

func TestPluginsListAndCheck(t *testing.T) {
	r := aimdb(t, nil, "plugins", "list", "--plugins", pluginDir)
	if r.code != 0 {
		t.Fatalf("plugins list: %+v", r)
	}
	// The loopback plugin serves two kinds: one row each.
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "FILE") {
		t.Fatalf("plugins list:\n%s", r.stdout)
	}
	f := strings.Fields(lines[2])
	if f[0] != "loopback" || f[1] != "loopback" || f[2] != "0.0.1" || !strings.Contains(f[4], "outbound,inbound") || !strings.Contains(f[5], "inject") {
		t.Errorf("row %q", lines[2])
	}
	// The host's own options are in the help, each with its default.
	if h := aimdb(t, nil, "plugins", "list", "--help"); h.code != 0 || !strings.Contains(h.stdout, "plugin_linger (connector, default 200µs)") ||
		!strings.Contains(h.stdout, "retry_min (link_to, default 100ms)") {
		t.Errorf("plugins list --help lacks the host's options: %+v", h)
	}
	r = aimdb(t, nil, "plugins", "list", "--plugins", pluginDir, "-o", "json")
	var list []struct {
		Kinds []struct {
			Scheme  string
			Options []struct{ Name, Scope string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || len(list[0].Kinds) != 2 || list[0].Kinds[1].Scheme != "loopback" || len(list[0].Kinds[1].Options) == 0 {
		t.Errorf("plugins list -o json: %v\n%s", err, r.stdout)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "p.hcl")
	src := `connector "lb" {
  plugin = "loopback"
  colour = "red"
}
record "a" {
  link_to "lb://x" {}
  link_to "nowhere://x" {}
}
`
	os.WriteFile(cfg, []byte(src), 0o600)
	r = aimdb(t, nil, "check", "--config", cfg, "--plugins", pluginDir)
	want := []string{
		cfg + `:3:3: Invalid configuration: connector instance "lb": unknown option "colour" (known: build_error,`,
		cfg + `:7:11: Invalid configuration: record "a": link "nowhere://x": no connector instance or kind named "nowhere"`,
	}
	got := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 1 || len(got) != len(want) {
		t.Fatalf("check: exit %d\n%s", r.code, r.stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("line %d: %s\nwant prefix %s", i, got[i], w)
		}
	}
	if !strings.Contains(r.stderr, `unknown option "colour"`) {
		t.Errorf("the unknown option is missing:\n%s", r.stderr)
	}
	os.WriteFile(cfg, []byte(loopbackConfig), 0o600)
	if r := aimdb(t, nil, "check", "--config", cfg, "--plugins", pluginDir); r.code != 0 || !strings.Contains(r.stdout, "ok: 2 record(s), 2 link(s), 1 connector instance(s)") {
		t.Errorf("check ok: %+v", r)
	}
}

// TestLinkAndConnectorList follows a link through an outage with the CLI: record set
// is refused with buffer_full once the at-least-once link is a ring behind, link list
// and connector list show what is wrong, and after the outage every value arrives.
func TestLinkAndConnectorList(t *testing.T) {
	down := filepath.Join(t.TempDir(), "down")
	if err := os.WriteFile(down, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`connector "lb" {
  plugin     = "loopback"
  inject     = "sync"
  down_while = %q
  retry_min  = "10ms"
  retry_max  = "50ms"
}
record "cmd.in" {
  buffer   = "spmc_ring"
  capacity = 4
  writable = true
  link_to "lb://echo/x" {}
}
record "echo.out" {
  capacity = 64
  link_from "lb://echo/+" {}
}
`, down)
	in := startInstance(t, src)
	defer in.stop(t)
	accepted := 0
	for i := 1; i <= maxWindowProbe; i++ {
		r := aimdb(t, in.env, "record", "set", "cmd.in", strconv.Itoa(i))
		if r.code == 0 {
			accepted++
			continue
		}
		if !strings.Contains(r.stderr, "buffer_full") || !strings.Contains(r.stderr, "aimdb link list") {
			t.Fatalf("record set %d: %+v", i, r)
		}
		break
	}
	if accepted == maxWindowProbe {
		t.Fatalf("record set never refused a value during the outage")
	}
	r := aimdb(t, in.env, "link", "list")
	if r.code != 0 || !regexp.MustCompile(`cmd\.in\s+-> lb://echo/x\s+(blocked|retrying)\s+at_least_once`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "connection failed") {
		t.Errorf("link list during the outage:\n%s%s", r.stdout, r.stderr)
	}
	r = aimdb(t, in.env, "connector", "list", "-o", "json")
	var cs []control.ConnectorStatus
	if err := json.Unmarshal([]byte(r.stdout), &cs); err != nil || len(cs) != 1 || cs[0].Name != "lb" || cs[0].Pid == 0 {
		t.Fatalf("connector list -o json: %v\n%s", err, r.stdout)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cs[0].State != "unhealthy" || !strings.Contains(cs[0].Health, "outage") {
		if time.Now().After(deadline) {
			t.Fatalf("connector during the outage: %+v", cs[0])
		}
		time.Sleep(100 * time.Millisecond)
		r = aimdb(t, in.env, "connector", "list", "-o", "json")
		cs = nil
		_ = json.Unmarshal([]byte(r.stdout), &cs)
	}
	if r := aimdb(t, in.env, "connector", "list"); !strings.Contains(r.stdout, "unhealthy") {
		t.Errorf("connector list:\n%s", r.stdout)
	}
	os.Remove(down)
	for deadline := time.Now().Add(10 * time.Second); ; {
		r = aimdb(t, in.env, "link", "list", "-o", "json")
		var ls []control.LinkStatus
		_ = json.Unmarshal([]byte(r.stdout), &ls)
		if len(ls) == 2 && ls[0].Stats.Delivered == uint64(accepted) && ls[1].Stats.Received == uint64(accepted) && ls[0].State == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the outage, want %d delivered and received:\n%s", accepted, r.stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := in.stop(t); code != 0 {
		t.Errorf("exit code %d\n%s", code, in.logs())
	}
	logs := in.logs()
	for _, want := range []string{"link state changed", "state=blocked", "state=ok was=", "connector state changed", "state=unhealthy"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// maxWindowProbe bounds the values TestLinkAndConnectorList sets before the record
// must refuse one: a holding link reads no further ahead than the ring (4) holds.
const maxWindowProbe = 20
