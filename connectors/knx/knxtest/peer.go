// Package knxtest runs the KNX connector's outside system for tests: a knxd with a
// dummy bus serving KNXnet/IP tunnelling on a free loopback port (Peer, which is also
// the conformance kit's peer), watched with `knxtool groupsocketlisten` and written
// with `knxtool groupwrite`. knxd always joins the routing multicast group, so tests
// run inside a private network namespace (InNetns from TestMain, then Require);
// nothing then leaves loopback.
package knxtest

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// probeGA is the group address the peer writes to itself to know its listener is up.
const probeGA = "31/7/255"

// Peer is a knxd and a listener on its bus.
type Peer struct {
	// Port is knxd's KNXnet/IP port on 127.0.0.1; it stays the same across Stop/Start.
	Port int

	t   testing.TB
	dir string

	mu        sync.Mutex
	knxd      *exec.Cmd
	knxdDone  chan struct{}
	listen    *exec.Cmd
	observers map[string][]chan []byte
}

var (
	_ conformance.Peer   = (*Peer)(nil)
	_ conformance.Outage = (*Peer)(nil)
)

// Start starts knxd on a free UDP port and the bus listener; both stop when the test ends.
func Start(t testing.TB) *Peer {
	t.Helper()
	dir, err := os.MkdirTemp("", "knxtest") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	p := &Peer{t: t, dir: dir, Port: FreeUDPPort(t), observers: map[string][]chan []byte{}}
	t.Cleanup(func() {
		_ = p.Stop(context.Background())
		os.RemoveAll(dir)
	})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

// URL is the connector URL of the tunnel.
func (p *Peer) URL() string { return fmt.Sprintf("knx://127.0.0.1:%d", p.Port) }

func (p *Peer) socket() string { return filepath.Join(p.dir, "knxd.sock") }
func (p *Peer) bus() string    { return "local:" + p.socket() }

// Resources are group addresses; "2/+/1" is a pattern of the KNX connector.
func (p *Peer) Resources() conformance.Resources {
	return conformance.Resources{
		Names:    []string{"1/1/1", "1/1/2", "1/1/3"},
		Wildcard: "2/+/1", WildcardMatch: "2/3/1", WildcardMiss: "2/3/2",
	}
}

// Start runs knxd and the listener, and waits until the listener sees a probe.
func (p *Peer) Start(ctx context.Context) error {
	p.mu.Lock()
	running := p.knxd != nil
	p.mu.Unlock()
	if running {
		return nil
	}
	os.Remove(p.socket())
	logf, err := os.Create(filepath.Join(p.dir, "knxd.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command("knxd", "-e", "0.0.1", "-E", "0.0.2:64", "-u", p.socket(), "-T",
		"-I", "lo", "-S", fmt.Sprintf("224.0.23.12:%d", p.Port), "-b", "dummy:")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("knxtest: start knxd: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.mu.Lock()
	p.knxd, p.knxdDone = cmd, done
	p.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(p.dir, "knxd.log"))
			return fmt.Errorf("knxtest: knxd exited during start-up: %s", b)
		default:
		}
		if _, err := os.Stat(p.socket()); err == nil && UDPPortBound(p.Port) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("knxtest: knxd not ready within %v", startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p.startListener(ctx)
}

// startListener runs groupsocketlisten and writes probes until one is seen.
func (p *Peer) startListener(ctx context.Context) error {
	cmd := exec.Command("knxtool", "groupsocketlisten", p.bus())
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("knxtest: start knxtool groupsocketlisten: %w", err)
	}
	p.mu.Lock()
	p.listen = cmd
	p.mu.Unlock()
	probe := make(chan struct{}, 1)
	go p.read(out, probe)
	go func() { _ = cmd.Wait() }()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		_ = p.write(ctx, probeGA, []byte{1})
		select {
		case <-probe:
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("knxtest: the bus listener saw no probe within %v", startTimeout)
}

// startTimeout bounds each step of the peer's start-up: knxd ready, then a probe seen
// by the bus listener. Generous, because the steps start processes (knxd, knxtool) that
// a loaded machine starts slowly (5 s was once too short under -race at load 15); a
// broken peer still fails, later.
const startTimeout = 20 * time.Second

// read parses "Write from 0.0.2 to 1/1/1: 0C 1A" lines and hands the data to observers.
func (p *Peer) read(out interface{ Read([]byte) (int, error) }, probe chan struct{}) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "Write from ")
		if !ok {
			continue
		}
		_, rest, ok = strings.Cut(rest, " to ")
		if !ok {
			continue
		}
		ga, data, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		payload, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(data), " ", ""))
		if err != nil {
			continue
		}
		if ga == probeGA {
			select {
			case probe <- struct{}{}:
			default:
			}
			continue
		}
		p.mu.Lock()
		for _, ch := range p.observers[ga] {
			select {
			case ch <- payload:
			default:
			}
		}
		p.mu.Unlock()
	}
}

// Observe records the data of group writes to ga until ctx ends.
func (p *Peer) Observe(ctx context.Context, ga string) (<-chan []byte, error) {
	ch := make(chan []byte, 1024)
	p.mu.Lock()
	p.observers[ga] = append(p.observers[ga], ch)
	p.mu.Unlock()
	go func() {
		<-ctx.Done()
		p.mu.Lock()
		defer p.mu.Unlock()
		list := p.observers[ga]
		for i, c := range list {
			if c == ch {
				p.observers[ga] = append(list[:i], list[i+1:]...)
				break
			}
		}
	}()
	return ch, nil
}

// Inject writes payload to ga on the bus as another KNX device would.
func (p *Peer) Inject(ctx context.Context, ga string, payload []byte) error {
	if len(payload) == 0 {
		return errors.New("knxtest: a group write carries at least one data byte")
	}
	return p.write(ctx, ga, payload)
}

func (p *Peer) write(ctx context.Context, ga string, payload []byte) error {
	args := []string{"groupwrite", p.bus(), ga}
	for _, b := range payload {
		args = append(args, fmt.Sprintf("%02x", b))
	}
	out, err := exec.CommandContext(ctx, "knxtool", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("knxtest: knxtool groupwrite %s: %v: %s", ga, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Stop ends the listener and knxd by PID: SIGTERM, then SIGKILL after 5 s.
func (p *Peer) Stop(context.Context) error {
	p.mu.Lock()
	knxd, done, listen := p.knxd, p.knxdDone, p.listen
	p.knxd, p.listen = nil, nil
	p.mu.Unlock()
	if listen != nil && listen.Process != nil {
		_ = listen.Process.Kill()
	}
	if knxd == nil {
		return nil
	}
	_ = knxd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = knxd.Process.Kill()
		<-done
	}
	return nil
}
