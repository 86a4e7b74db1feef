package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one client connection and three goroutines: one reads and answers frames,
// one writes the outgoing queue, and one (the pump) carries the values of every
// subscription of the connection. A watched record costs no goroutine: its watcher
// calls the pump when a value arrives (Watcher.Notify), and the pump drains it. When
// the client reads slowly, the queue fills and the pump waits, so values wait in the
// records' buffers (which never make a writer wait) instead of in memory here.
type conn struct {
	srv  *Server
	tr   Transport
	out  chan []byte   // frames for the writer
	done chan struct{} // closed when the connection ends

	closeOnce sync.Once
	queued    atomic.Int64 // bytes of frames in out
	room      chan struct{}
	lastRead  atomic.Int64 // when the client last sent a frame (or connected), UnixNano

	subsMu  sync.Mutex
	subs    map[uint64]*subscription
	watched int // records followed over all subscriptions; guarded by subsMu

	readyMu sync.Mutex
	ready   []*watch // watches that may have values, each at most once
	readyCh chan struct{}

	pacer pacer // the pump's alone
}

func newConn(s *Server, tr Transport) *conn {
	c := &conn{
		srv: s, tr: tr,
		out:     make(chan []byte, s.opts.QueueLen),
		done:    make(chan struct{}),
		room:    make(chan struct{}, 1),
		subs:    make(map[uint64]*subscription),
		readyCh: make(chan struct{}, 1),
	}
	c.lastRead.Store(time.Now().UnixNano())
	return c
}

// close hangs up; serve then returns.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.tr.Close()
	})
}

// hangUp tells the client why the server closes the connection, then closes it.
func (c *conn) hangUp(msg string) {
	b, _ := encodeFrame(&Frame{T: TagReply, Err: CodeLimit, Msg: msg})
	c.tr.Hangup(b)
	c.close()
}

func (c *conn) serve() {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	go func() {
		defer wg.Done()
		c.pump()
	}()
	c.readLoop()
	c.close()
	wg.Wait()
	c.subsMu.Lock()
	for id, sub := range c.subs {
		sub.stop()
		delete(c.subs, id)
	}
	c.watched = 0
	c.subsMu.Unlock()
}

// writeBatch bounds the frames the writer hands the transport at once.
const writeBatch = 64

// writeLoop writes what is queued, as much as is ready in one go. A client that does
// not take a write within WriteTimeout has stopped reading: it is cut off.
func (c *conn) writeLoop() {
	batch := make([][]byte, 0, writeBatch)
	for {
		select {
		case <-c.done:
			return
		case b := <-c.out:
			batch = append(batch, b)
		}
		for more := true; more && len(batch) < writeBatch; {
			select {
			case b := <-c.out:
				batch = append(batch, b)
			default:
				more = false
			}
		}
		var deadline time.Time
		if c.srv.opts.WriteTimeout > 0 {
			deadline = time.Now().Add(c.srv.opts.WriteTimeout)
		}
		err := c.tr.WriteFrames(batch, deadline)
		n := 0
		for i, b := range batch {
			n += len(b)
			batch[i] = nil
		}
		batch = batch[:0]
		c.queued.Add(-int64(n))
		select {
		case c.room <- struct{}{}:
		default:
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.srv.opts.Logger.Warn("control: client stopped reading; connection cut off",
					"client", c.tr.String(), "write_timeout", c.srv.opts.WriteTimeout.String(), "queued_bytes", c.queued.Load())
			}
			c.close()
			return
		}
	}
}

// readLoop reads frames until the client hangs up or stays silent for IdleTimeout. A
// frame longer than MaxFrame is answered with an error; the connection survives.
func (c *conn) readLoop() {
	for {
		line, err := c.tr.ReadFrame(time.Now().Add(c.srv.opts.IdleTimeout), c.srv.opts.MaxFrame)
		var ne net.Error
		switch {
		case errors.Is(err, ErrFrameTooLong):
			c.lastRead.Store(time.Now().UnixNano())
			c.reply(&Frame{T: TagReply, Err: CodeLimit, Msg: "frame longer than " + itoa(c.srv.opts.MaxFrame) + " bytes"})
			continue
		case errors.As(err, &ne) && ne.Timeout():
			c.srv.opts.Logger.Debug("control: closing an idle connection", "client", c.tr.String(), "idle_timeout", c.srv.opts.IdleTimeout.String())
			c.hangUp("connection closed after " + c.srv.opts.IdleTimeout.String() + " without a frame (send a ping now and then to keep a connection open)")
			return
		case err != nil:
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.srv.opts.Logger.Debug("control: read failed", "client", c.tr.String(), "error", err)
			}
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			c.handle(trimmed)
		}
	}
}

// reply queues a frame, waiting for room; it gives up when the connection closes.
func (c *conn) reply(f *Frame) {
	b, err := encodeFrame(f)
	if err != nil {
		b, _ = encodeFrame(&Frame{T: TagReply, ID: f.ID, Err: CodeInternal, Msg: err.Error()})
	}
	c.queued.Add(int64(len(b)))
	select {
	case c.out <- b:
	case <-c.done:
	}
}

// sendEvent queues an event frame once fewer than QueueBytes wait; it reports false
// when the connection closed meanwhile.
func (c *conn) sendEvent(b []byte) bool {
	for c.queued.Load() > int64(c.srv.opts.QueueBytes) {
		select {
		case <-c.room:
		case <-c.done:
			return false
		}
	}
	c.queued.Add(int64(len(b)))
	select {
	case c.out <- b:
		return true
	case <-c.done:
		return false
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
	case MethodLinkList:
		ls := b.Links()
		if ls == nil {
			ls = []LinkStatus{}
		}
		c.ok(f.ID, ls)
	case MethodConnectorList:
		cs := b.Connectors()
		if cs == nil {
			cs = []ConnectorStatus{}
		}
		c.ok(f.ID, cs)
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

// subscription is one sub frame: a pattern and the records it matched.
type subscription struct {
	id      uint64
	watches []*watch
	stopped atomic.Bool
	seq     uint64 // events sent; the pump's alone
	lag     uint64 // values lost since the last event; the pump's alone
}

// stop closes the subscription's watchers; the pump skips them from then on.
func (s *subscription) stop() {
	if s.stopped.CompareAndSwap(false, true) {
		for _, w := range s.watches {
			w.w.Close()
		}
	}
}

// watch is one record followed by a subscription.
type watch struct {
	sub    *subscription
	key    string
	topic  []byte // key as a JSON string, for event frames
	w      Watcher
	wake   func() // puts the watch on the pump's ready list; given to Watcher.Notify
	queued bool   // on the ready list; guarded by conn.readyMu
}

func (c *conn) unsubscribe(f *Frame) {
	c.subsMu.Lock()
	sub := c.subs[f.Sub]
	if sub != nil {
		delete(c.subs, f.Sub)
		c.watched -= len(sub.watches)
	}
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

// subscribe opens a watcher per matched record, answers with the records, sends each
// one's newest value as a snap frame, and hands the watchers to the pump.
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
	sub := &subscription{id: f.ID}
	c.subsMu.Lock()
	switch {
	case c.subs[f.ID] != nil:
		c.subsMu.Unlock()
		c.fail(f.ID, CodeBadRequest, "subscription %d exists already", f.ID)
		return
	case len(c.subs) >= c.srv.opts.MaxSubs:
		c.subsMu.Unlock()
		c.fail(f.ID, CodeLimit, "too many subscriptions on this connection (limit %d)", c.srv.opts.MaxSubs)
		return
	case c.watched+len(matched) > c.srv.opts.MaxWatched:
		c.subsMu.Unlock()
		c.fail(f.ID, CodeLimit, "%q matches %d records; with the %d this connection follows already that is over the limit of %d",
			f.Topic, len(matched), c.watched, c.srv.opts.MaxWatched)
		return
	}
	c.subs[f.ID] = sub
	c.watched += len(matched)
	c.subsMu.Unlock()

	// Open every watcher before reading snapshots, so no value falls between them.
	wild := strings.ContainsAny(f.Topic, "*#")
	refused := 0
	keys := make([]string, 0, len(matched))
	latest := make([]bool, 0, len(matched))
	var openErr error
	for _, r := range matched {
		w, err := c.srv.backend.Watch(r.Key)
		if err != nil && wild && errors.Is(err, ErrDenied) {
			refused++ // a pattern follows what can be followed; a named record reports why not
			continue
		}
		if err != nil {
			openErr = err
			break
		}
		wt := &watch{sub: sub, key: r.Key, topic: quoteKey(r.Key), w: w}
		wt.wake = func() { c.markReady(wt) }
		sub.watches = append(sub.watches, wt)
		keys = append(keys, r.Key)
		latest = append(latest, r.Buffer == "single_latest")
	}
	if openErr == nil && len(sub.watches) == 0 {
		openErr = classified{fmt.Errorf("no record matching %q can be watched (%d refused)", f.Topic, refused), ErrDenied}
	}
	c.subsMu.Lock()
	if openErr != nil {
		delete(c.subs, f.ID)
		c.watched -= len(matched)
	} else {
		c.watched -= refused
	}
	c.subsMu.Unlock()
	if openErr != nil {
		sub.stop()
		c.failErr(f.ID, openErr)
		return
	}
	// Snapshots are taken before "subscribed" goes out, so a value the client writes
	// after reading it arrives as an event, never inside a snapshot.
	snaps := make([]json.RawMessage, len(sub.watches))
	for i, wt := range sub.watches {
		// A single_latest watcher begins with the current value; a ring's newest value
		// is read beside its watcher, which sees only later ones.
		if latest[i] {
			snaps[i], _, _, _ = wt.w.TryNext() // an error comes again to the pump
		} else {
			snaps[i], _ = c.srv.backend.Get(wt.key)
		}
	}
	c.reply(&Frame{T: TagSubscribed, Sub: f.ID, Topics: keys})
	for i, wt := range sub.watches {
		if snaps[i] != nil {
			c.reply(&Frame{T: TagSnap, Sub: f.ID, Topic: wt.key, Data: snaps[i]})
		}
	}
	for _, wt := range sub.watches {
		if !wt.w.Notify(wt.wake) {
			c.markReady(wt)
		}
	}
}

// markReady puts w on the pump's ready list. It runs on the goroutine of whoever
// wrote the record, so it only appends and signals.
func (c *conn) markReady(w *watch) {
	c.readyMu.Lock()
	if !w.queued {
		w.queued = true
		c.ready = append(c.ready, w)
	}
	c.readyMu.Unlock()
	select {
	case c.readyCh <- struct{}{}:
	default:
	}
}

// drainTurn is how many values one watch sends before the others on the ready list
// get their turn.
const drainTurn = 64

// pump carries values from the ready watches to the client until the connection ends.
func (c *conn) pump() {
	var batch []*watch
	for {
		select {
		case <-c.readyCh:
		case <-c.done:
			return
		}
		c.readyMu.Lock()
		batch, c.ready = c.ready, batch[:0]
		for _, w := range batch {
			w.queued = false
		}
		c.readyMu.Unlock()
		for _, w := range batch {
			if !c.drain(w) {
				return
			}
		}
		clear(batch)
	}
}

// drain sends up to drainTurn values of w, then re-arms its watcher, or puts it back on
// the ready list when more may wait. It reports false once the connection closed.
func (c *conn) drain(w *watch) bool {
	sub := w.sub
	for range drainTurn {
		if sub.stopped.Load() {
			return true
		}
		v, lagged, ok, err := w.w.TryNext()
		sub.lag += lagged
		if err != nil {
			if !sub.stopped.Load() {
				c.endSubscription(sub, w.key, err)
			}
			return true
		}
		if !ok {
			if !w.w.Notify(w.wake) {
				c.markReady(w)
			}
			return true
		}
		c.pace()
		b, err := appendEvent(make([]byte, 0, 64+len(w.topic)+len(v)), sub.id, sub.seq+1, sub.lag, w.topic, v)
		if err != nil {
			c.srv.opts.Logger.Warn("control: cannot encode value", "record", w.key, "error", err)
			sub.lag++
			continue
		}
		if !c.sendEvent(b) {
			return false
		}
		sub.seq++
		sub.lag = 0
	}
	c.markReady(w)
	return true
}

// endSubscription ends a subscription whose watcher failed (the database shut down)
// and tells the client.
func (c *conn) endSubscription(sub *subscription, key string, err error) {
	c.subsMu.Lock()
	if c.subs[sub.id] == sub {
		delete(c.subs, sub.id)
		c.watched -= len(sub.watches)
	}
	c.subsMu.Unlock()
	sub.stop()
	c.reply(&Frame{T: TagUnsubscribed, Sub: sub.id, Topic: key, Msg: err.Error()})
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
