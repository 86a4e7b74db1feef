package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
)

// Options says how to start a plugin; the zero value is usable.
type Options struct {
	// Logger receives go-plugin's messages and the plugin's log lines, tagged with the
	// plugin's file name. Default: no logging.
	Logger hclog.Logger
	// StartTimeout bounds start-up until the handshake line. Default 10 s.
	StartTimeout time.Duration
	// CallTimeout bounds a control call (describe, build, health). Default 10 s.
	CallTimeout time.Duration
	// SocketDir is the private directory (0700, the host's own) that holds the
	// plugin's unix socket; "" leaves the choice to go-plugin (the temp directory).
	SocketDir string
	// TLS turns on go-plugin's AutoMTLS for the plugin channel. A unix socket in a
	// private directory needs none (docs/plugin-protocol.md, "Threat model").
	TLS bool
	// Stderr, if set, also receives everything the plugin writes to stderr.
	Stderr io.Writer
	// Stdout, if set, receives what the plugin writes to stdout after its handshake.
	Stdout io.Writer
	// Env is added to the plugin's environment ("NAME=value"). Of the host's own
	// environment a plugin gets only a few harmless variables (see passedEnv), so a
	// secret reaches the plugin that needs it and no other: pass the variables its
	// instances name in "_env" options here (LookupEnv).
	Env []string
	// LogLevel is the level asked of the plugin; default: the Logger's.
	LogLevel string
	// Versions are the protocol versions offered at the handshake; default: the one
	// this build speaks.
	Versions []int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	return o
}

// Conn is one started plugin process that passed the handshake and described itself.
// Its control calls are safe for concurrent use; OpenData opens its one data stream.
type Conn struct {
	gp   *goplugin.Client
	rpc  pb.ConnectorClient
	info Info
	pid  int
	opts Options
	tail *stderrTail
}

// Launch starts the plugin at path and asks it to describe itself. Every error names
// the binary and what went wrong.
func Launch(ctx context.Context, path string, opts Options) (*Conn, error) {
	opts = opts.withDefaults()
	name := filepath.Base(path)
	tail := &stderrTail{}
	var stderr io.Writer = tail
	if opts.Stderr != nil {
		stderr = io.MultiWriter(tail, opts.Stderr)
	}
	gp := newClient(path, opts, stderr)
	fail := func(err error) (*Conn, error) {
		gp.Kill()
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	proto, err := gp.Client()
	if err != nil {
		if exitedEarly(err) {
			// go-plugin marks the exit only after it read all of stderr: wait for it,
			// so the error can quote the plugin's last words.
			for deadline := time.Now().Add(time.Second); !gp.Exited() && time.Now().Before(deadline); {
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
	cctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
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
	c := &Conn{gp: gp, rpc: rpc.ConnectorClient, info: infoFromPB(path, name, desc), opts: opts, tail: tail}
	if rc := gp.ReattachConfig(); rc != nil {
		c.pid = rc.Pid
	}
	return c, nil
}

// Info returns what the plugin said about itself.
func (c *Conn) Info() Info { return c.info }

// Pid returns the plugin's process id.
func (c *Conn) Pid() int { return c.pid }

// Exited reports whether the plugin process has exited.
func (c *Conn) Exited() bool { return c.gp.Exited() }

// Stderr returns the last few KiB the plugin wrote to stderr.
func (c *Conn) Stderr() string { return c.tail.String() }

// Kill stops the plugin process at once (after Shutdown, for a clean stop) and
// waits for it; go-plugin removes its socket.
func (c *Conn) Kill() { c.gp.Kill() }

// newClient configures go-plugin for the plugin at path: handshake, versioned plugin
// sets, gRPC only, explicit message-size limits, the log level passed down, the
// socket directory, an environment of only what the plugin needs (baseEnv and
// opts.Env, never the host's whole environment), and a process group of its own, so a signal sent to the host's
// process group (Ctrl-C, a service manager's stop) leaves the plugin to the host's
// orderly shutdown.
func newClient(path string, opts Options, stderr io.Writer) *goplugin.Client {
	cmd := exec.Command(path)
	cmd.Env = baseEnv(os.Environ())
	level := opts.LogLevel
	if level == "" {
		level = levelName(opts.Logger)
	}
	cmd.Env = append(cmd.Env, pluginwire.LogLevelEnv+"="+level)
	if opts.SocketDir != "" {
		cmd.Env = append(cmd.Env, goplugin.EnvUnixSocketDir+"="+opts.SocketDir)
	}
	cmd.Env = append(cmd.Env, opts.Env...)
	cmd.SysProcAttr = newProcessGroup()
	hs := pluginwire.Handshake
	sets := pluginwire.PluginSets(&pluginwire.Connector{})
	if len(opts.Versions) > 0 {
		hs.ProtocolVersion = uint(opts.Versions[0])
		sets = map[int]goplugin.PluginSet{}
		for _, v := range opts.Versions {
			sets[v] = goplugin.PluginSet{pluginwire.PluginName: &pluginwire.Connector{}}
		}
	}
	return goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: sets,
		Cmd:              cmd,
		SkipHostEnv:      true, // cmd.Env holds what the plugin may see
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         opts.TLS,
		Logger:           opts.Logger,
		Stderr:           stderr,
		SyncStdout:       opts.Stdout,
		StartTimeout:     opts.StartTimeout,
		GRPCDialOptions:  pluginwire.HostDialOptions(opts.TLS),
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
