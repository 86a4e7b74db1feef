package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"
)

// Client talks to a running instance's control socket. Its methods are safe for
// concurrent use. It pings the server every 30 seconds, so an open client (a long
// watch) is never closed as idle.
type Client struct {
	nc net.Conn

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan *Frame
	subs    map[uint64]*Subscription
	err     error        // why the connection ended
	goodbye *RemoteError // an error without request id: why the server hangs up
	done    chan struct{}
	wmu     sync.Mutex
	pinger  chan struct{} // closed when the keep-alive goroutine ended
	closing chan struct{} // closed by Close: events no longer wait for a reader
	once    sync.Once
}

// keepAliveEvery is how often a Client pings, well within the server's default idle
// timeout (DefaultIdleTimeout).
var keepAliveEvery = 30 * time.Second

// Dial connects to the control socket at addr ("unix:///PATH" or a path). It refuses a
// socket, or a directory holding it, that belongs to another user, root included.
func Dial(ctx context.Context, addr string) (*Client, error) {
	path, err := SocketPath(addr)
	if err != nil {
		return nil, err
	}
	if err := checkOwner("directory of the control socket", filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := checkOwner("control socket", path); err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("cannot reach aimdb at %s (is `aimdb run` running, and is --connect right?): %w", addr, err)
	}
	c := &Client{nc: nc, pending: map[uint64]chan *Frame{}, subs: map[uint64]*Subscription{}, done: make(chan struct{}), pinger: make(chan struct{}), closing: make(chan struct{})}
	go c.readLoop()
	go c.keepAlive()
	return c, nil
}

// Close hangs up; pending calls fail and subscriptions end.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.closing) })
	err := c.nc.Close()
	<-c.done
	<-c.pinger
	return err
}

// keepAlive pings every keepAliveEvery until the connection ends.
func (c *Client) keepAlive() {
	defer close(c.pinger)
	t := time.NewTicker(keepAliveEvery)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), keepAliveEvery)
			_ = c.Ping(ctx) // a lost connection shows in the caller's next call
			cancel()
		}
	}
}

func (c *Client) readLoop() {
	defer close(c.done)
	r := bufio.NewReaderSize(c.nc, 64<<10)
	var err error
	for {
		var line []byte
		line, err = r.ReadBytes('\n')
		if err != nil {
			break
		}
		var f Frame
		if jerr := json.Unmarshal(line, &f); jerr != nil {
			err = fmt.Errorf("malformed frame from server: %w", jerr)
			break
		}
		c.dispatch(&f)
	}
	c.mu.Lock()
	switch {
	case errors.Is(err, net.ErrClosed):
		err = errors.New("connection closed")
	case c.goodbye != nil:
		err = fmt.Errorf("control connection lost: the instance hung up: %w", c.goodbye)
	default:
		err = fmt.Errorf("control connection lost: %w", err)
	}
	c.err = err
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	for id, s := range c.subs {
		s.finish(err)
		delete(c.subs, id)
	}
	c.mu.Unlock()
}

func (c *Client) dispatch(f *Frame) {
	switch f.T {
	case TagReply, TagPong, TagSubscribed:
		if f.T == TagReply && f.ID == 0 && f.Err != "" {
			c.mu.Lock()
			c.goodbye = &RemoteError{Code: f.Err, Msg: f.Msg}
			c.mu.Unlock()
			return
		}
		id := f.ID
		if f.T == TagSubscribed {
			id = f.Sub
		}
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- f
		}
	case TagEvent, TagSnap:
		c.mu.Lock()
		s := c.subs[f.Sub]
		c.mu.Unlock()
		if s != nil {
			s.deliver(Event{Snapshot: f.T == TagSnap, Topic: f.Topic, Seq: f.Seq, Lag: f.Lag, Data: f.Data})
		}
	case TagUnsubscribed:
		c.mu.Lock()
		s := c.subs[f.Sub]
		delete(c.subs, f.Sub)
		c.mu.Unlock()
		if s != nil {
			s.finish(fmt.Errorf("server ended the subscription on %s: %s", f.Topic, f.Msg))
		}
	}
}

// roundTrip sends f with a fresh id (or f.ID for sub frames) and waits for its answer.
func (c *Client) roundTrip(ctx context.Context, f *Frame, sub *Subscription) (*Frame, error) {
	ch := make(chan *Frame, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	f.ID = c.nextID
	c.pending[f.ID] = ch
	if sub != nil {
		sub.ID = f.ID
		c.subs[f.ID] = sub
	}
	c.mu.Unlock()
	if err := c.send(f); err != nil {
		c.forget(f.ID)
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return nil, err
		}
		if r.Err != "" {
			if sub != nil {
				c.forget(f.ID)
			}
			return nil, &RemoteError{Code: r.Err, Msg: r.Msg}
		}
		return r, nil
	case <-ctx.Done():
		c.forget(f.ID)
		return nil, ctx.Err()
	}
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	delete(c.subs, id)
	c.mu.Unlock()
}

func (c *Client) send(f *Frame) error {
	b, err := encodeFrame(f)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("control connection: %w", err)
	}
	return nil
}

// Call invokes method with params and decodes the result into result (unless nil).
// A server error is a *RemoteError.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	f := &Frame{T: TagReq, Method: method}
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return err
		}
		f.Params = b
	}
	r, err := c.roundTrip(ctx, f, nil)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(r.OK, result); err != nil {
		return fmt.Errorf("%s: bad result from server: %w", method, err)
	}
	return nil
}

// Ping checks that the server answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.roundTrip(ctx, &Frame{T: TagPing}, nil)
	return err
}

// Hello returns the server's version, permissions and writable records.
func (c *Client) Hello(ctx context.Context) (Hello, error) {
	var h Hello
	err := c.Call(ctx, MethodHello, nil, &h)
	return h, err
}

// Records lists the records.
func (c *Client) Records(ctx context.Context) ([]RecordInfo, error) {
	var out []RecordInfo
	err := c.Call(ctx, MethodRecordList, nil, &out)
	return out, err
}

// Links fetches every link's state and counters.
func (c *Client) Links(ctx context.Context) ([]LinkStatus, error) {
	var out []LinkStatus
	err := c.Call(ctx, MethodLinkList, nil, &out)
	return out, err
}

// Connectors fetches every connector instance's state.
func (c *Client) Connectors(ctx context.Context) ([]ConnectorStatus, error) {
	var out []ConnectorStatus
	err := c.Call(ctx, MethodConnectorList, nil, &out)
	return out, err
}

// Get returns a record's newest value.
func (c *Client) Get(ctx context.Context, key string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.Call(ctx, MethodRecordGet, KeyParams{Key: key}, &out)
	return out, err
}

// Set writes a record's value.
func (c *Client) Set(ctx context.Context, key string, value json.RawMessage) error {
	return c.Call(ctx, MethodRecordSet, SetParams{Key: key, Value: value}, nil)
}

// Graph fetches the nodes, edges and topological order.
func (c *Client) Graph(ctx context.Context) (Graph, error) {
	var g Graph
	if err := c.Call(ctx, MethodGraphNodes, nil, &g.Nodes); err != nil {
		return g, err
	}
	if err := c.Call(ctx, MethodGraphEdges, nil, &g.Edges); err != nil {
		return g, err
	}
	err := c.Call(ctx, MethodGraphTopo, nil, &g.TopoOrder)
	return g, err
}

// Subscribe follows every record matching pattern ("*" one segment, "#" the rest).
func (c *Client) Subscribe(ctx context.Context, pattern string) (*Subscription, error) {
	s := &Subscription{c: c, ch: make(chan Event, 256), done: make(chan struct{})}
	r, err := c.roundTrip(ctx, &Frame{T: TagSub, Topic: pattern}, s)
	if err != nil {
		return nil, err
	}
	s.Topics = r.Topics
	return s, nil
}

// Event is one value on a subscription.
type Event struct {
	// Snapshot marks a record's newest value when the subscription started.
	Snapshot bool
	Topic    string
	Seq      uint64
	// Lag counts the values the server dropped before this one because the client
	// was too slow.
	Lag  uint64
	Data json.RawMessage
}

// Subscription delivers the events of one sub frame.
type Subscription struct {
	ID     uint64
	Topics []string // the records the pattern matched

	c        *Client
	ch       chan Event
	done     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	finalErr error
}

// Next waits for the next event. It fails when the subscription or connection ends.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	select {
	case e := <-s.ch:
		return e, nil
	default:
	}
	select {
	case e := <-s.ch:
		return e, nil
	case <-s.done:
		select {
		case e := <-s.ch:
			return e, nil
		default:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return Event{}, s.finalErr
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Close ends the subscription.
func (s *Subscription) Close() error {
	s.c.forget(s.ID)
	s.finish(errors.New("subscription closed"))
	return s.c.send(&Frame{T: TagUnsub, Sub: s.ID})
}

// deliver hands an event to Next; it waits (so the server, not the client, counts lag)
// unless the subscription or the client is closing.
func (s *Subscription) deliver(e Event) {
	select {
	case s.ch <- e:
	case <-s.done:
	case <-s.c.closing:
	}
}

func (s *Subscription) finish(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.finalErr = err
		s.mu.Unlock()
		close(s.done)
	})
}
