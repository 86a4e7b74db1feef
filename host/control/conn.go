package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// conn is one client connection. One goroutine reads and answers frames; one writes
// the outgoing queue. Replies wait for room in the queue; events never wait: when the
// queue is full they are dropped and counted, and the next event of that subscription
// carries the count as lag. So a slow client never holds up the database.
type conn struct {
	srv  *Server
	nc   net.Conn
	out  chan []byte
	done chan struct{}

	closeOnce sync.Once
	subsMu    sync.Mutex
	subs      map[uint64]*subscription
	wg        sync.WaitGroup // subscription goroutines
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		srv: s, nc: nc,
		out:  make(chan []byte, s.opts.QueueLen),
		done: make(chan struct{}),
		subs: make(map[uint64]*subscription),
	}
}

// close hangs up; serve then returns.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

func (c *conn) serve() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	c.close()
	c.subsMu.Lock()
	for id, sub := range c.subs {
		sub.stop()
		delete(c.subs, id)
	}
	c.subsMu.Unlock()
	c.wg.Wait()
	<-writerDone
}

func (c *conn) writeLoop() {
	w := bufio.NewWriter(c.nc)
	for {
		select {
		case <-c.done:
			return
		case b := <-c.out:
			if _, err := w.Write(b); err != nil {
				c.close()
				return
			}
			// Write what is queued in one go, then flush.
			for more := true; more; {
				select {
				case b := <-c.out:
					if _, err := w.Write(b); err != nil {
						c.close()
						return
					}
				default:
					more = false
				}
			}
			if err := w.Flush(); err != nil {
				c.close()
				return
			}
		}
	}
}

// readLoop reads frames until the client hangs up. A frame longer than MaxFrame is
// skipped up to its newline and answered with an error; the connection survives.
func (c *conn) readLoop() {
	r := bufio.NewReaderSize(c.nc, 64<<10)
	var line []byte
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > c.srv.opts.MaxFrame {
			tooLong = true
			line = line[:0]
		} else if !tooLong {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.srv.opts.Logger.Debug("control: read failed", "error", err)
			}
			return
		}
		if tooLong {
			c.reply(&Frame{T: TagReply, Err: CodeLimit, Msg: "frame longer than " + itoa(c.srv.opts.MaxFrame) + " bytes"})
			tooLong = false
		} else if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			c.handle(trimmed)
		}
		line = line[:0]
	}
}

// reply queues a frame, waiting for room; it gives up when the connection closes.
func (c *conn) reply(f *Frame) {
	b, err := encodeFrame(f)
	if err != nil {
		b, _ = encodeFrame(&Frame{T: TagReply, ID: f.ID, Err: CodeInternal, Msg: err.Error()})
	}
	select {
	case c.out <- b:
	case <-c.done:
	}
}

func (c *conn) fail(id uint64, code string, format string, args ...any) {
	c.reply(&Frame{T: TagReply, ID: id, Err: code, Msg: fmt.Sprintf(format, args...)})
}

func (c *conn) failErr(id uint64, err error) {
	c.reply(&Frame{T: TagReply, ID: id, Err: codeOf(err), Msg: err.Error()})
}

func (c *conn) ok(id uint64, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.fail(id, CodeInternal, "encoding result: %v", err)
		return
	}
	c.reply(&Frame{T: TagReply, ID: id, OK: b})
}

func (c *conn) handle(line []byte) {
	var f Frame
	if err := json.Unmarshal(line, &f); err != nil {
		// Answer with the id when the frame has a readable one.
		var probe struct {
			ID uint64 `json:"id"`
		}
		_ = json.Unmarshal(line, &probe)
		c.fail(probe.ID, CodeBadRequest, "malformed frame: %v", err)
		return
	}
	switch f.T {
	case TagReq:
		c.request(&f)
	case TagSub:
		c.subscribe(&f)
	case TagUnsub:
		c.unsubscribe(&f)
	case TagWrite:
		c.write(&f)
	case TagPing:
		c.reply(&Frame{T: TagPong, ID: f.ID})
	case "":
		c.fail(f.ID, CodeBadRequest, "frame has no \"t\" tag")
	default:
		c.fail(f.ID, CodeBadRequest, "unknown frame tag %q", f.T)
	}
}

func (c *conn) request(f *Frame) {
	if f.ID == 0 {
		c.fail(0, CodeBadRequest, "req frame needs a positive id")
		return
	}
	b := c.srv.backend
	switch f.Method {
	case MethodHello:
		c.ok(f.ID, c.srv.hello())
	case MethodRecordList:
		recs := b.Records()
		if recs == nil {
			recs = []RecordInfo{}
		}
		c.ok(f.ID, recs)
	case MethodRecordGet:
		var p KeyParams
		if !c.params(f, &p) {
			return
		}
		v, err := b.Get(p.Key)
		if err != nil {
			c.failErr(f.ID, err)
			return
		}
		c.reply(&Frame{T: TagReply, ID: f.ID, OK: v})
	case MethodRecordSet:
		var p SetParams
		if !c.params(f, &p) {
			return
		}
		if len(p.Value) == 0 {
			c.fail(f.ID, CodeBadRequest, "record.set needs params {\"key\": ..., \"value\": ...}")
			return
		}
		if err := c.set(p.Key, p.Value); err != nil {
			c.failErr(f.ID, err)
			return
		}
		c.ok(f.ID, true)
	case MethodGraphNodes:
		c.ok(f.ID, nonNil(b.Graph().Nodes))
	case MethodGraphEdges:
		c.ok(f.ID, nonNil(b.Graph().Edges))
	case MethodGraphTopo:
		c.ok(f.ID, nonNil(b.Graph().TopoOrder))
	case "":
		c.fail(f.ID, CodeBadRequest, "req frame has no method")
	default:
		c.fail(f.ID, CodeNotFound, "unknown method %q", f.Method)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// params decodes a request's params, answering the error itself.
func (c *conn) params(f *Frame, into any) bool {
	if len(f.Params) == 0 {
		c.fail(f.ID, CodeBadRequest, "%s needs params", f.Method)
		return false
	}
	if err := json.Unmarshal(f.Params, into); err != nil {
		c.fail(f.ID, CodeBadRequest, "%s: bad params: %v", f.Method, err)
		return false
	}
	return true
}

func (c *conn) set(key string, value json.RawMessage) error {
	if c.srv.opts.ReadOnly {
		return fmt.Errorf("record %q: the control socket is read-only: %w", key, ErrDenied)
	}
	if key == "" {
		return fmt.Errorf("no record key given: %w", ErrInvalid)
	}
	if !json.Valid(value) {
		return fmt.Errorf("record %q: value is not valid JSON: %w", key, ErrInvalid)
	}
	return c.srv.backend.Set(key, value)
}

// write handles a write frame: a record.set without a reply unless it has an id or fails.
func (c *conn) write(f *Frame) {
	if len(f.Payload) == 0 {
		c.reply(&Frame{T: TagReply, ID: f.ID, Topic: f.Topic, Err: CodeBadRequest, Msg: "write frame needs a payload"})
		return
	}
	if err := c.set(f.Topic, f.Payload); err != nil {
		c.reply(&Frame{T: TagReply, ID: f.ID, Topic: f.Topic, Err: codeOf(err), Msg: err.Error()})
		return
	}
	if f.ID != 0 {
		c.ok(f.ID, true)
	}
}

func (c *conn) unsubscribe(f *Frame) {
	c.subsMu.Lock()
	sub := c.subs[f.Sub]
	delete(c.subs, f.Sub)
	c.subsMu.Unlock()
	if sub == nil {
		c.fail(f.ID, CodeNotFound, "no subscription %d", f.Sub)
		return
	}
	sub.stop()
	if f.ID != 0 {
		c.ok(f.ID, true)
	}
}

// subscription is one sub frame: a pattern and the records it matched.
type subscription struct {
	id      uint64
	cancel  context.CancelFunc
	mu      sync.Mutex // orders seq with the queue
	seq     uint64
	dropped atomic.Uint64
}

func (s *subscription) stop() { s.cancel() }

func (c *conn) subscribe(f *Frame) {
	if f.ID == 0 {
		c.fail(0, CodeBadRequest, "sub frame needs a positive id; it becomes the subscription's id")
		return
	}
	if err := ValidatePattern(f.Topic); err != nil {
		c.fail(f.ID, CodeBadRequest, "%v", err)
		return
	}
	var matched []RecordInfo
	for _, r := range c.srv.backend.Records() {
		if Match(f.Topic, r.Key) {
			matched = append(matched, r)
		}
	}
	if len(matched) == 0 {
		c.fail(f.ID, CodeNotFound, "no record matches %q", f.Topic)
		return
	}
	c.subsMu.Lock()
	if _, dup := c.subs[f.ID]; dup {
		c.subsMu.Unlock()
		c.fail(f.ID, CodeBadRequest, "subscription %d exists already", f.ID)
		return
	}
	if len(c.subs) >= c.srv.opts.MaxSubs {
		c.subsMu.Unlock()
		c.fail(f.ID, CodeLimit, "too many subscriptions on this connection (limit %d)", c.srv.opts.MaxSubs)
		return
	}
	ctx, cancel := contextFor(c.done)
	sub := &subscription{id: f.ID, cancel: cancel}
	c.subs[f.ID] = sub
	c.subsMu.Unlock()

	// Open every watcher before reading snapshots, so no value falls between them.
	watchers := make([]Watcher, 0, len(matched))
	keys := make([]string, 0, len(matched))
	wild := strings.ContainsAny(f.Topic, "*#")
	var skipped []RecordInfo
	for _, r := range matched {
		w, err := c.srv.backend.Watch(r.Key)
		if err != nil && wild && errors.Is(err, ErrDenied) {
			// A pattern follows what can be followed; a named record reports why not.
			skipped = append(skipped, r)
			continue
		}
		if err != nil {
			for _, w := range watchers {
				w.Close()
			}
			c.subsMu.Lock()
			delete(c.subs, f.ID)
			c.subsMu.Unlock()
			cancel()
			c.failErr(f.ID, err)
			return
		}
		watchers = append(watchers, w)
		keys = append(keys, r.Key)
	}
	if len(watchers) == 0 {
		c.subsMu.Lock()
		delete(c.subs, f.ID)
		c.subsMu.Unlock()
		cancel()
		c.fail(f.ID, CodeDenied, "no record matching %q can be watched (%d refused)", f.Topic, len(skipped))
		return
	}
	c.reply(&Frame{T: TagSubscribed, Sub: f.ID, Topics: keys})
	snaps := make([]json.RawMessage, len(keys))
	for _, r := range matched {
		if !slices.Contains(keys, r.Key) || r.Buffer != "single_latest" {
			continue
		}
		if v, err := c.srv.backend.Get(r.Key); err == nil {
			snaps[slices.Index(keys, r.Key)] = v
			c.reply(&Frame{T: TagSnap, Sub: f.ID, Topic: r.Key, Data: v})
		}
	}
	for i, w := range watchers {
		c.wg.Add(1)
		go func(key string, w Watcher, snap json.RawMessage) {
			defer c.wg.Done()
			defer w.Close()
			c.pump(ctx, sub, key, w, snap)
		}(keys[i], w, snaps[i])
	}
}

// pump forwards one record's values to the client until the subscription ends. A
// single_latest watcher may begin with the value already sent as snap; that one is
// not sent twice.
func (c *conn) pump(ctx context.Context, sub *subscription, key string, w Watcher, snap json.RawMessage) {
	for first := true; ; first = false {
		v, lagged, err := w.Next(ctx)
		if first && err == nil && lagged == 0 && snap != nil && bytes.Equal(v, snap) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				c.subsMu.Lock()
				if c.subs[sub.id] == sub {
					delete(c.subs, sub.id)
				}
				c.subsMu.Unlock()
				sub.stop()
				c.reply(&Frame{T: TagUnsubscribed, Sub: sub.id, Topic: key, Msg: err.Error()})
			}
			return
		}
		if lagged > 0 {
			sub.dropped.Add(lagged)
		}
		sub.mu.Lock()
		lag := sub.dropped.Swap(0)
		b, err := encodeFrame(&Frame{T: TagEvent, Sub: sub.id, Seq: sub.seq + 1, Topic: key, Data: v, Lag: lag})
		if err != nil {
			sub.mu.Unlock()
			c.srv.opts.Logger.Warn("control: cannot encode value", "record", key, "error", err)
			sub.dropped.Add(lag + 1)
			continue
		}
		select {
		case c.out <- b:
			sub.seq++
		default:
			sub.dropped.Add(lag + 1)
		}
		sub.mu.Unlock()
	}
}

// encodeFrame returns f as one line of JSON.
func encodeFrame(f *Frame) ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func itoa(n int) string { return strconv.Itoa(n) }
