// Package mqtttest starts real MQTT peers for tests: a mosquitto broker on a free
// loopback port (with optional auth, TLS and persistence), a cuttable TCP proxy and
// small paho clients that check traffic from outside. The MQTT connector's tests and the conformance kit share it.
package mqtttest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/testpki"

	"github.com/aimdb-dev/aimdb-go/internal/testport"
)

// Options says how to configure a test mosquitto.
type Options struct {
	// Port to listen on; 0 picks a free loopback port.
	Port int
	// Users enables authentication with these user names and passwords
	// (anonymous clients are then refused).
	Users map[string]string
	// TLS serves MQTT over TLS with these files (see NewCA).
	TLS *TLSFiles
	// RequireClientCert asks every TLS client for a certificate signed by TLS.CA.
	RequireClientCert bool
	// Persistence keeps sessions, subscriptions and queued messages across Restart.
	Persistence bool
	// Quiet logs only errors and warnings (for load tests; the default logs every packet).
	Quiet bool
	// Extra is appended to the generated mosquitto.conf (for example
	// "max_queued_messages 0" for load tests).
	Extra string
}

// ServerTLS returns the broker-side files of p.
func ServerTLS(p *testpki.PKI) *TLSFiles {
	return &TLSFiles{CA: p.CA, Cert: p.ServerCert, Key: p.ServerKey}
}

// TLSFiles names the PEM files of a broker's TLS listener.
type TLSFiles struct {
	CA, Cert, Key string
}

// Mosquitto is a running (or stopped) test broker.
type Mosquitto struct {
	// Addr is "127.0.0.1:port"; it stays the same across Restart.
	Addr string
	// Port is the listening port.
	Port int
	// Dir holds the config, password file, persistence and log.
	Dir string

	t    testing.TB
	conf string
	log  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMosquitto starts mosquitto as opts say and waits until it accepts connections.
// The broker stops when the test ends. Without a mosquitto binary the test is skipped,
// or fails when CI=true.
func StartMosquitto(t testing.TB, opts Options) *Mosquitto {
	t.Helper()
	bin := requireBinary(t, "mosquitto")
	dir := t.TempDir()
	port := opts.Port
	if port == 0 {
		port = FreePort(t)
	}
	m := &Mosquitto{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port: port,
		Dir:  dir,
		t:    t,
		conf: filepath.Join(dir, "mosquitto.conf"),
		log:  filepath.Join(dir, "mosquitto.log"),
	}
	if err := os.WriteFile(m.conf, []byte(m.config(bin, opts)), 0o600); err != nil {
		t.Fatalf("mosquitto: write config: %v", err)
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(m.log); err == nil {
				t.Logf("mosquitto log (%s):\n%s", m.Addr, tail(b, 4000))
			}
		}
	})
	m.Start()
	return m
}

func (m *Mosquitto) config(bin string, opts Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "per_listener_settings false\nlistener %d 127.0.0.1\n", m.Port)
	fmt.Fprintf(&b, "log_dest file %s\nconnection_messages true\n", m.log)
	if opts.Quiet {
		b.WriteString("log_type error\nlog_type warning\n")
	} else {
		b.WriteString("log_type all\n")
	}
	if os.Geteuid() == 0 {
		// As root mosquitto would drop to its own user, which cannot read the test's files.
		b.WriteString("user root\n")
	}
	if opts.Persistence {
		fmt.Fprintf(&b, "persistence true\npersistence_location %s/\nautosave_interval 1\n", m.Dir)
	} else {
		b.WriteString("persistence false\n")
	}
	if len(opts.Users) > 0 {
		pw := filepath.Join(m.Dir, "passwd")
		first := true
		for user, pass := range opts.Users {
			args := []string{"-b", pw, user, pass}
			if first {
				args = []string{"-c", "-b", pw, user, pass}
				first = false
			}
			passwdBin := filepath.Join(filepath.Dir(bin), "mosquitto_passwd")
			if _, err := os.Stat(passwdBin); err != nil {
				passwdBin = requireBinary(m.t, "mosquitto_passwd")
			}
			if out, err := exec.Command(passwdBin, args...).CombinedOutput(); err != nil {
				m.t.Fatalf("mosquitto_passwd: %v: %s", err, out)
			}
		}
		fmt.Fprintf(&b, "allow_anonymous false\npassword_file %s\n", pw)
	} else {
		b.WriteString("allow_anonymous true\n")
	}
	if opts.TLS != nil {
		fmt.Fprintf(&b, "cafile %s\ncertfile %s\nkeyfile %s\n", opts.TLS.CA, opts.TLS.Cert, opts.TLS.Key)
		if opts.RequireClientCert {
			b.WriteString("require_certificate true\n")
		}
	}
	b.WriteString(opts.Extra)
	b.WriteString("\n")
	return b.String()
}

// Start starts the broker on its port (again, after Stop) and waits until it accepts
// TCP connections, failing the test after 10 s or when the process dies.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		m.t.Fatalf("mosquitto %s: already running", m.Addr)
	}
	cmd := exec.Command(requireBinary(m.t, "mosquitto"), "-c", m.conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("mosquitto %s: start: %v", m.Addr, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			log, _ := os.ReadFile(m.log)
			m.t.Fatalf("mosquitto %s exited at start: %s\n%s", m.Addr, stderr.String(), tail(log, 2000))
		default:
		}
		c, err := net.DialTimeout("tcp", m.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			m.t.Fatalf("mosquitto %s: not ready after 10s: %v", m.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.cmd, m.done = cmd, done
}

// Stop stops the broker by PID: SIGTERM, then SIGKILL after 5 s. It is a no-op when
// the broker is not running.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd, m.done = nil, nil
}

// Signal sends sig to the running broker (for example SIGSTOP to freeze it and
// SIGCONT to resume it).
func (m *Mosquitto) Signal(sig os.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return fmt.Errorf("mosquitto %s is not running", m.Addr)
	}
	return m.cmd.Process.Signal(sig)
}

// Kill SIGKILLs the broker and waits for it to exit: a crash, after which a
// persistent broker has only what it last autosaved (once a second here). It is a
// no-op when the broker is not running.
func (m *Mosquitto) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	m.cmd, m.done = nil, nil
}

// Restart stops the broker and starts it again on the same port.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.Stop()
	m.Start()
}

// URL returns the broker's connector URL, "mqtt://127.0.0.1:port" or "mqtts://..." with tls.
func (m *Mosquitto) URL(tls bool) string {
	if tls {
		return "mqtts://" + m.Addr
	}
	return "mqtt://" + m.Addr
}

// Pid returns the running broker's process id, or 0 when it is not running.
func (m *Mosquitto) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Log returns what the broker logged so far.
func (m *Mosquitto) Log() string {
	b, _ := os.ReadFile(m.log)
	return string(b)
}

// FreePort returns a loopback TCP port that was free a moment ago, below the
// ephemeral range (package testport says why).
func FreePort(t testing.TB) int {
	t.Helper()
	return testport.Port(t)
}

// requireBinary finds a peer binary, skipping the test when it is missing (failing on CI).
func requireBinary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found: install mosquitto and mosquitto-clients to run the MQTT integration tests", name)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
