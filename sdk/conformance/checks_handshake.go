package conformance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
)

// checkStart launches the shared target and checks the handshake's duration.
func checkStart(r *runner) error {
	if _, err := os.Stat(r.cfg.Plugin); err != nil {
		return fmt.Errorf("plugin binary: %w", err)
	}
	start := time.Now()
	t, err := r.launch(ProcessOptions{StartTimeout: 2 * StartBound})
	took := time.Since(start)
	if err != nil {
		return err
	}
	r.target = t
	info := t.Info()
	if len(info.Kinds) == 0 {
		return fmt.Errorf("the plugin serves no connector kind")
	}
	r.kind = info.Kinds[0]
	if r.cfg.Scheme != "" {
		k, ok := info.Kind(r.cfg.Scheme)
		if !ok {
			r.target = nil
			t.Kill()
			return fmt.Errorf("the plugin serves no scheme %q", r.cfg.Scheme)
		}
		r.kind = k
	}
	if took > StartBound {
		return fmt.Errorf("the handshake took %s; the bound is %s", took.Round(time.Millisecond), StartBound)
	}
	return nil
}

// checkWrongCookie runs the binary as a plugin of another host would: it must exit
// with an error and a message on stderr, and print no handshake.
func checkWrongCookie(r *runner) error {
	ctx, cancel := context.WithTimeout(r.ctx, StartBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.cfg.Plugin)
	cmd.Env = append(append(os.Environ(), r.cfg.Env...), pluginwire.Handshake.MagicCookieKey+"=not-the-aimdb-cookie")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("with a wrong magic cookie the plugin did not exit within %s", StartBound)
	}
	if err == nil {
		return fmt.Errorf("with a wrong magic cookie the plugin exited with status 0")
	}
	if strings.Contains(stdout.String(), "|grpc") {
		return fmt.Errorf("with a wrong magic cookie the plugin printed a handshake line: %q", lastLine(stdout.String()))
	}
	if strings.TrimSpace(stderr.String()) == "" {
		return fmt.Errorf("with a wrong magic cookie the plugin exited (%v) without a message on stderr", err)
	}
	return nil
}

// checkVersion offers only a protocol version the plugin cannot speak: the start must
// fail with an error that says so.
func checkVersion(r *runner) error {
	const future = 99
	t, err := r.launch(ProcessOptions{StartTimeout: 2 * StartBound, Versions: []int{future}})
	if err == nil {
		t.Kill()
		return fmt.Errorf("the plugin accepted protocol version %d only", future)
	}
	msg := strings.ToLower(err.Error())
	if !strings.Contains(msg, "version") {
		return fmt.Errorf("a host offering only protocol version %d got an error that does not mention the version: %v", future, err)
	}
	return nil
}

// checkStdout fails when the plugin wrote to stdout at any time during the run.
func checkStdout(r *runner) error {
	time.Sleep(100 * time.Millisecond) // let the stdio stream deliver
	if out := r.target.Stdout(); out != "" {
		return fmt.Errorf("the plugin wrote %d bytes to stdout (plugins must log to stderr): %q", len(out), firstLine(out))
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
