// Package tcppeer is the outside system of the TCP connector's tests: a line-protocol
// server on loopback that records what connectors publish and sends them messages.
// For the conformance kit it also goes down and comes back (conformance.Outage),
// stops reading while staying connected (conformance.Stall) and counts the
// connections it is offered (conformance.ConnectCounter).
package tcppeer

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

var (
	_ conformance.Peer           = (*Peer)(nil)
	_ conformance.Outage         = (*Peer)(nil)
	_ conformance.Stall          = (*Peer)(nil)
	_ conformance.ConnectCounter = (*Peer)(nil)
)

// Peer is a line-protocol server. While down it still accepts connections, counts
// them and closes each at once without its HELLO, as a server refusing service
// does, so a connector sees every attempt fail.
type Peer struct {
	// Addr is the server's host:port: a connector's URL is "tcp://" + Addr.
	Addr string

	ln       net.Listener
	connects atomic.Int64
	nextID   atomic.Uint64

	mu        sync.Mutex
	down      bool
	reading   chan struct{} // closed while connections are read; open while stalled
	clients   map[*client]bool
	observers map[string][]chan []byte
}

// client is one connection the peer serves.
type client struct {
	nc   net.Conn
	gone chan struct{} // closed when the connection is dropped

	wmu     sync.Mutex // one writer at a time
	mu      sync.Mutex
	subs    []string
	pending map[uint64]chan error // MSG ids waiting for their ACK or NACK
}

// Start listens on a free 127.0.0.1 port.
func Start() (*Peer, error) { return Listen("127.0.0.1:0") }

// Listen listens on addr.
func Listen(addr string) (*Peer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcppeer: %w", err)
	}
	reading := make(chan struct{})
	close(reading)
	p := &Peer{Addr: ln.Addr().String(), ln: ln, reading: reading,
		clients: map[*client]bool{}, observers: map[string][]chan []byte{}}
	go p.accept()
	return p, nil
}

// accept serves every connection offered until the peer is closed.
func (p *Peer) accept() {
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.connects.Add(1)
		c := &client{nc: nc, gone: make(chan struct{}), pending: map[uint64]chan error{}}
		p.mu.Lock()
		down := p.down
		if !down {
			p.clients[c] = true
		}
		p.mu.Unlock()
		if down {
			nc.Close()
			continue
		}
		go p.serve(c)
	}
}

// serve greets a connection and reads its lines until it is dropped. A line cut
// short by the connection's end is dropped, not taken for a message.
func (p *Peer) serve(c *client) {
	defer p.drop(c)
	if err := c.write("HELLO\n"); err != nil {
		return
	}
	lines := bufio.NewReader(c.nc)
	for {
		p.mu.Lock()
		reading := p.reading
		p.mu.Unlock()
		select {
		case <-reading:
		case <-c.gone:
			return
		}
		line, err := lines.ReadString('\n')
		if err != nil {
			return
		}
		verb, rest, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		switch verb {
		case "SUB":
			c.mu.Lock()
			c.subs = append(c.subs, rest)
			c.mu.Unlock()
		case "PUB":
			topic, b64, _ := strings.Cut(rest, " ")
			if payload, err := base64.StdEncoding.DecodeString(b64); err == nil {
				p.publish(topic, payload)
			}
		case "ACK":
			c.answer(rest, nil)
		case "NACK":
			c.answer(rest, errors.New("not taken (NACK)"))
		}
	}
}

// answer settles the message whose id is the text id.
func (c *client) answer(id string, err error) {
	n, _ := strconv.ParseUint(id, 10, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.pending[n]; ok {
		delete(c.pending, n)
		ch <- err
	}
}

// drop closes a connection and fails the messages waiting for its answer.
func (p *Peer) drop(c *client) {
	p.mu.Lock()
	delete(p.clients, c)
	p.mu.Unlock()
	c.mu.Lock()
	select {
	case <-c.gone:
	default:
		close(c.gone)
	}
	for id, ch := range c.pending {
		ch <- errors.New("connection closed before an answer")
		delete(c.pending, id)
	}
	c.mu.Unlock()
	c.nc.Close()
}

// write sends one line within 5 s.
func (c *client) write(line string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write([]byte(line))
	return err
}

// publish hands a published payload to the observers of its topic.
func (p *Peer) publish(topic string, payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range p.observers[topic] {
		select {
		case ch <- payload:
		default: // a slow observer loses messages rather than stalling the peer
		}
	}
}

// Observe records the payloads published to topic until ctx ends.
func (p *Peer) Observe(ctx context.Context, topic string) (<-chan []byte, error) {
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

// Inject sends a MSG on topic to every connection subscribed to it and waits for
// their answers: nil when every one said ACK.
func (p *Peer) Inject(ctx context.Context, topic string, payload []byte) error {
	p.mu.Lock()
	var to []*client
	for c := range p.clients {
		if c.subscribed(topic) {
			to = append(to, c)
		}
	}
	p.mu.Unlock()
	if len(to) == 0 {
		return fmt.Errorf("tcppeer: no connection subscribes to %q", topic)
	}
	answers := make([]chan error, len(to))
	for i, c := range to {
		id := p.nextID.Add(1)
		answers[i] = make(chan error, 1)
		c.mu.Lock()
		c.pending[id] = answers[i]
		c.mu.Unlock()
		if err := c.write(fmt.Sprintf("MSG %d %s %s\n", id, topic, base64.StdEncoding.EncodeToString(payload))); err != nil {
			c.answer(strconv.FormatUint(id, 10), err)
		}
	}
	var errs []error
	for _, a := range answers {
		select {
		case err := <-a:
			errs = append(errs, err)
		case <-ctx.Done():
			return fmt.Errorf("tcppeer: no answer to the message on %q: %w", topic, ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// subscribed reports whether one of the connection's patterns matches topic.
func (c *client) subscribed(topic string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if sdk.TopicMatches(s, topic) {
			return true
		}
	}
	return false
}

// Stop takes the server down: every connection is dropped, and new ones are closed
// at once.
func (p *Peer) Stop(context.Context) error {
	p.mu.Lock()
	p.down = true
	var all []*client
	for c := range p.clients {
		all = append(all, c)
	}
	p.mu.Unlock()
	for _, c := range all {
		p.drop(c)
	}
	return nil
}

// Start brings the server back.
func (p *Peer) Start(context.Context) error {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
	return nil
}

// StopReading stops reading every connection, which stay open: what connectors
// write fills the sockets' buffers.
func (p *Peer) StopReading(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.reading:
		p.reading = make(chan struct{})
	default:
	}
	return nil
}

// ResumeReading reads the connections again.
func (p *Peer) ResumeReading(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.reading:
	default:
		close(p.reading)
	}
	return nil
}

// Connects returns how many connections the server was offered so far, those it
// closed while down included.
func (p *Peer) Connects() int64 { return p.connects.Load() }

// Close stops the server for good.
func (p *Peer) Close() {
	p.ln.Close()
	_ = p.Stop(context.Background())
}
