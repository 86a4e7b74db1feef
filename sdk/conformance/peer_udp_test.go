package conformance_test

// This file holds the outside system of the broken sample plugin, which speaks the
// UDP example's datagram protocol (topic, newline, payload). It mirrors the example's
// own peer (examples/udp/udppeer), which this module cannot import.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// udpPeer receives on Addr and sends to Target.
type udpPeer struct {
	// Addr is where the connector publishes: its URL is "udp://" + Addr.
	Addr string
	// Target is the connector's "listen" address.
	Target string

	mu        sync.Mutex
	pc        net.PacketConn
	observers map[string][]chan []byte
	done      chan struct{}
}

// startUDPPeer listens on a free 127.0.0.1 port and reserves another one for the connector.
func startUDPPeer() (*udpPeer, error) {
	p := &udpPeer{observers: map[string][]chan []byte{}}
	if err := p.listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	p.Addr = p.pc.LocalAddr().String()
	free, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		p.Close()
		return nil, err
	}
	p.Target = free.LocalAddr().String()
	free.Close()
	return p, nil
}

func (p *udpPeer) listen(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("udp peer: listen %s: %w", addr, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.pc, p.done = pc, done
	p.mu.Unlock()
	go p.read(pc, done)
	return nil
}

// read fans received datagrams out to the observers of their topic.
func (p *udpPeer) read(pc net.PacketConn, done chan struct{}) {
	defer close(done)
	buf := make([]byte, 65536)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		topic, payload, ok := bytes.Cut(buf[:n], []byte{'\n'})
		if !ok {
			continue
		}
		p.mu.Lock()
		for _, ch := range p.observers[string(topic)] {
			select {
			case ch <- append([]byte(nil), payload...):
			default: // a slow observer loses messages rather than stalling the peer
			}
		}
		p.mu.Unlock()
	}
}

// Observe records the payloads published to topic until ctx ends.
func (p *udpPeer) Observe(ctx context.Context, topic string) (<-chan []byte, error) {
	ch := make(chan []byte, 1024)
	p.mu.Lock()
	p.observers[topic] = append(p.observers[topic], ch)
	p.mu.Unlock()
	go func() {
		<-ctx.Done()
		p.mu.Lock()
		defer p.mu.Unlock()
		list := p.observers[topic]
		for i, c := range list {
			if c == ch {
				p.observers[topic] = append(list[:i], list[i+1:]...)
				break
			}
		}
	}()
	return ch, nil
}

// Inject sends one datagram to the connector's listen address.
func (p *udpPeer) Inject(_ context.Context, topic string, payload []byte) error {
	c, err := net.Dial("udp", p.Target)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write(append(append([]byte(topic), '\n'), payload...))
	return err
}

// Stop closes the receiving socket: the connector's publishes are refused.
func (p *udpPeer) Stop(context.Context) error {
	p.mu.Lock()
	pc, done := p.pc, p.done
	p.pc = nil
	p.mu.Unlock()
	if pc == nil {
		return nil
	}
	err := pc.Close()
	<-done
	return err
}

// Start listens again on the same address.
func (p *udpPeer) Start(context.Context) error {
	p.mu.Lock()
	running := p.pc != nil
	p.mu.Unlock()
	if running {
		return nil
	}
	return p.listen(p.Addr)
}

// Close stops the peer for good.
func (p *udpPeer) Close() { _ = p.Stop(context.Background()) }

func (p *udpPeer) Resources() conformance.Resources {
	return conformance.Resources{
		Names:         []string{"conformance/a", "conformance/b", "conformance/c"},
		Wildcard:      "conformance/w/+",
		WildcardMatch: "conformance/w/x",
		WildcardMiss:  "conformance/v/x",
	}
}

// listenUDPPeer is a peer on given addresses, for a peer program started by a test.
func listenUDPPeer(addr, target string) (*udpPeer, error) {
	p := &udpPeer{observers: map[string][]chan []byte{}, Addr: addr, Target: target}
	if err := p.listen(addr); err != nil {
		return nil, err
	}
	return p, nil
}
