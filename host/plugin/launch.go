package plugin

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv1"
)

// conn is one started plugin process that passed the handshake and described itself.
type conn struct {
	client *goplugin.Client
	rpc    *pluginwire.Client
	info   Info
	pid    int
}

// launch starts the plugin at path and asks it to describe itself. Every error names
// the binary and what went wrong.
func launch(ctx context.Context, path string, cfg Config) (*conn, error) {
	name := filepath.Base(path)
	tail := &stderrTail{}
	client := newClient(path, cfg, tail)
	fail := func(err error) (*conn, error) {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	proto, err := client.Client()
	if err != nil {
		if exitedEarly(err) {
			// go-plugin marks the exit only after it read all of stderr: wait for it,
			// so the error can quote the plugin's last words.
			for deadline := time.Now().Add(time.Second); !client.Exited() && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
		}
		return fail(classify(err, tail.String()))
	}
	raw, err := proto.Dispense(pluginwire.PluginName)
	if err != nil {
		return fail(fmt.Errorf("dispense: %w", err))
	}
	rpc := raw.(*pluginwire.Client)
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	desc, err := rpc.Describe(cctx, &pb.DescribeRequest{})
	if err != nil {
		return fail(fmt.Errorf("describe failed: %w", err))
	}
	if desc.ProtocolVersion != pluginwire.ProtocolVersion {
		return fail(fmt.Errorf("speaks protocol version %d, the host speaks %d", desc.ProtocolVersion, pluginwire.ProtocolVersion))
	}
	if len(desc.Kinds) == 0 {
		return fail(errors.New("serves no connector kind"))
	}
	c := &conn{client: client, rpc: rpc, info: infoFromPB(path, name, desc)}
	if rc := client.ReattachConfig(); rc != nil {
		c.pid = rc.Pid
	}
	return c, nil
}

// newClient configures go-plugin for the plugin at path: handshake, versioned plugin
// sets, gRPC only, AutoMTLS, explicit message-size limits, log level passed down.
func newClient(path string, cfg Config, stderr *stderrTail) *goplugin.Client {
	cmd := exec.Command(path)
	cmd.Env = append(cmd.Env, pluginwire.LogLevelEnv+"="+levelName(cfg.Logger))
	return goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  pluginwire.Handshake,
		VersionedPlugins: pluginwire.PluginSets(&pluginwire.Connector{}),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           cfg.Logger,
		Stderr:           stderr,
		StartTimeout:     cfg.StartTimeout,
		GRPCDialOptions:  pluginwire.DialOptions(),
	})
}

// classify rewrites go-plugin's start-up errors into causes a user can act on.
func classify(err error, stderr string) error {
	msg := err.Error()
	switch {
	case strings.Contains(stderr, "This binary is a plugin"):
		return fmt.Errorf("handshake failed: wrong magic cookie (not an AimDB connector plugin, or built for another host): %s", firstLine(stderr))
	case exitedEarly(err):
		if stderr != "" {
			return fmt.Errorf("exited during start-up: %s", lastLines(stderr, 3))
		}
		return errors.New("exited during start-up without a message")
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		line := strings.TrimSpace(strings.TrimPrefix(firstLine(msg), "Unrecognized remote plugin message:"))
		return fmt.Errorf("handshake failed: the plugin wrote %q to stdout before its handshake line (plugins must log to stderr)", line)
	case strings.Contains(strings.ToLower(msg), "incompatible api version"):
		return fmt.Errorf("handshake failed: protocol version mismatch (the host speaks %d): %s", pluginwire.ProtocolVersion, firstLine(msg))
	case strings.Contains(msg, "timeout while waiting"):
		return fmt.Errorf("no handshake within the start timeout: %s", msg)
	}
	return fmt.Errorf("start failed: %w", err)
}

// exitedEarly reports whether a start-up error means the plugin exited before its handshake.
func exitedEarly(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "exited before we could connect") || strings.Contains(msg, "Failed to read any lines")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// levelName is the level a plugin should log at: the host logger's level.
func levelName(l hclog.Logger) string {
	lvl := l.GetLevel()
	if lvl == hclog.NoLevel || lvl == hclog.Off {
		return "error"
	}
	return lvl.String()
}

// stderrTail keeps the last few KiB a plugin wrote to stderr, for start-up errors.
type stderrTail struct {
	mu  sync.Mutex
	buf []byte
}

const stderrTailBytes = 4 << 10

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > stderrTailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-stderrTailBytes:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
