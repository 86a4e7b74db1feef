package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

// memPeer is an in-memory outside system: what is published is what was injected.
type memPeer struct {
	mu      sync.Mutex
	obs     map[string][]chan []byte
	stopped bool
	stalled bool
}

func (m *memPeer) Resources() Resources {
	return Resources{Names: []string{"a", "b", "c"}, Wildcard: "w/+", WildcardMatch: "w/x", WildcardMiss: "v/x"}
}

func (m *memPeer) Observe(ctx context.Context, r string) (<-chan []byte, error) {
	ch := make(chan []byte, 8)
	m.mu.Lock()
	m.obs[r] = append(m.obs[r], ch)
	m.mu.Unlock()
	return ch, nil
}

func (m *memPeer) Inject(_ context.Context, topic string, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return errors.New("stopped")
	}
	for _, ch := range m.obs[topic] {
		ch <- p
	}
	return nil
}

func (m *memPeer) Stop(context.Context) error {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	return nil
}
func (m *memPeer) Start(context.Context) error {
	m.mu.Lock()
	m.stopped = false
	m.mu.Unlock()
	return nil
}
func (m *memPeer) StopReading(context.Context) error {
	m.mu.Lock()
	m.stalled = true
	m.mu.Unlock()
	return nil
}
func (m *memPeer) ResumeReading(context.Context) error {
	m.mu.Lock()
	m.stalled = false
	m.mu.Unlock()
	return nil
}

// Connects answers 3, or 7 while not reading, so the test sees both calls arrive.
func (m *memPeer) Connects() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stalled {
		return 7
	}
	return 3
}

// TestPeerProtocolRoundTrip runs a peer through servePeer and the kit's client side
// over pipes, as `aimdb conformance --peer` does over a program's stdin and stdout.
func TestPeerProtocolRoundTrip(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- servePeer(&memPeer{obs: map[string][]chan []byte{}}, inR, outW); outW.Close() }()
	p := &execPeer{enc: json.NewEncoder(inW), pending: map[uint64]chan peerReply{}, obs: map[uint64]chan []byte{}, offers: map[string]bool{}}
	go p.read(outR)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	hello, err := p.call(ctx, peerRequest{Op: "hello"})
	if err != nil || hello.Resources == nil || hello.Resources.Wildcard != "w/+" || !hello.Outage || !hello.Stall || hello.Connects == nil {
		t.Fatalf("hello: %+v, %v", hello, err)
	}
	octx, ocancel := context.WithCancel(ctx)
	ch, err := p.Observe(octx, "a")
	if err != nil {
		t.Fatal(err)
	}
	bin := []byte{0, 1, 2, 0xff, '\n'}
	if err := p.Inject(ctx, "a", bin); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ch:
		if !bytes.Equal(got, bin) {
			t.Errorf("observed %q, want %q", got, bin)
		}
	case <-ctx.Done():
		t.Fatal("nothing observed")
	}
	ocancel()
	o := p
	if err := o.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Inject(ctx, "a", []byte("x")); err == nil || err.Error() != "stopped" {
		t.Errorf("inject while stopped: %v, want the peer's error", err)
	}
	if err := o.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := p.Connects(); n != 3 {
		t.Errorf("connects: %d, want 3", n)
	}
	if err := p.StopReading(ctx); err != nil {
		t.Fatal(err)
	}
	if n := p.Connects(); n != 7 {
		t.Errorf("connects while not reading: %d, want 7", n)
	}
	if err := p.ResumeReading(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.call(ctx, peerRequest{Op: "frobnicate"}); err == nil {
		t.Error("an unknown op succeeded")
	}
	inW.Close()
	if err := <-served; err != nil {
		t.Errorf("servePeer: %v", err)
	}
	if _, err := p.call(ctx, peerRequest{Op: "hello"}); err == nil {
		t.Error("a call after the peer program ended succeeded")
	}
}
