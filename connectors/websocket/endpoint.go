package websocket

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// endpoint is one WebSocket connection, kept up by its Reconnector.
type endpoint struct {
	c        *Connector
	resource string // the link resource it carries; "" when routed
	url      string // dial URL, query included
	name     string // URL without query, for messages
	rc       sdk.Reconnector

	firstOnce sync.Once
	first     chan struct{} // closed after the first connection attempt

	mu   sync.Mutex
	conn *websocket.Conn // nil while down
}

func newEndpoint(c *Connector, resource string) *endpoint {
	e := &endpoint{c: c, resource: resource, url: c.s.endpointURL(resource), first: make(chan struct{})}
	e.name = e.url[:len(e.url)-len(c.s.query)]
	e.rc = sdk.Reconnector{
		Name:    "WebSocket " + e.name,
		Session: e.session,
		Backoff: sdk.Backoff{Min: c.s.reconnectMin, Max: c.s.reconnectMax},
		Logger:  c.log,
	}
	return e
}

// errorf returns an error of kind prefixed with the connection's URL.
func (e *endpoint) errorf(kind sdk.ErrorKind, format string, args ...any) error {
	return sdk.Errorf(kind, "%s: "+format, append([]any{e.name}, args...)...)
}

// current returns the connection while it is up.
func (e *endpoint) current() *websocket.Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conn
}

func (e *endpoint) setConn(conn *websocket.Conn) {
	e.mu.Lock()
	e.conn = conn
	e.mu.Unlock()
}

// session makes one connection and serves it until it is lost (read error, no pong
// in time, a failed write) or ctx ends.
func (e *endpoint) session(ctx context.Context) error {
	s := e.c.s
	dctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	conn, resp, err := websocket.Dial(dctx, e.url, &websocket.DialOptions{
		HTTPClient:   e.c.client,
		HTTPHeader:   s.header.Clone(),
		Subprotocols: s.subprotocols,
	})
	cancel()
	// Build waits for the first attempt's outcome: record it before saying so.
	defer e.firstOnce.Do(func() { close(e.first) })
	switch {
	case err != nil && resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		err = e.errorf(sdk.KindConnectionFailed, "server refused the WebSocket handshake: %s", resp.Status)
	case err != nil:
		err = e.errorf(sdk.KindConnectionFailed, "%v", err)
	case len(s.subprotocols) > 0 && conn.Subprotocol() == "":
		conn.CloseNow()
		err = e.errorf(sdk.KindConnectionFailed, "server accepted none of the subprotocols %q", s.subprotocols)
	}
	if err != nil {
		e.rc.MarkDown(err)
		return err
	}
	conn.SetReadLimit(int64(s.maxPayload))
	e.setConn(conn)
	e.rc.MarkUp("subprotocol", conn.Subprotocol())
	e.firstOnce.Do(func() { close(e.first) })

	// The loops run on a context of their own, so closing on shutdown can still
	// exchange close frames.
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	errc := make(chan error, 2)
	loops := 1
	go func() { errc <- e.readLoop(lctx, conn) }()
	if s.pingInterval > 0 {
		loops++
		go func() { errc <- e.heartbeat(lctx, conn) }()
	}
	select {
	case err = <-errc:
		loops--
		e.setConn(nil)
		e.rc.MarkDown(err)
	case <-ctx.Done():
		e.setConn(nil)
		cctx, ccancel := context.WithTimeout(context.Background(), closeWait)
		go func() {
			<-cctx.Done()
			conn.CloseNow()
		}()
		_ = conn.Close(websocket.StatusGoingAway, "closing")
		ccancel()
	}
	stop()
	conn.CloseNow()
	for ; loops > 0; loops-- {
		<-errc
	}
	return err
}

// closeWait bounds the close handshake on shutdown.
const closeWait = time.Second

// readLoop hands every received frame to the host, at most max_inflight at once.
func (e *endpoint) readLoop(ctx context.Context, conn *websocket.Conn) error {
	slots := make(chan struct{}, e.c.s.maxInflight)
	release := func() { <-slots }
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return e.readError(err)
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		e.c.deliver(e, data, release)
	}
}

// readError says why reading ended.
func (e *endpoint) readError(err error) error {
	var ce websocket.CloseError
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig) || errors.As(err, &ce) && ce.Code == websocket.StatusMessageTooBig:
		return e.errorf(sdk.KindMessageTooLarge, "a received frame is larger than max_payload (%d): %v", e.c.s.maxPayload, err)
	case errors.As(err, &ce):
		return e.errorf(sdk.KindConnectionFailed, "server closed the connection: status %d %q", int(ce.Code), ce.Reason)
	}
	return e.errorf(sdk.KindConnectionFailed, "read: %v", err)
}

// heartbeat pings every ping_interval; a ping not answered within pong_timeout ends
// the connection.
func (e *endpoint) heartbeat(ctx context.Context, conn *websocket.Conn) error {
	t := time.NewTicker(e.c.s.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := e.ping(ctx, conn); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// ping waits up to pong_timeout (or ctx) for the pong of one ping.
func (e *endpoint) ping(ctx context.Context, conn *websocket.Conn) error {
	pctx, cancel := context.WithTimeout(ctx, e.c.s.pongTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		if errors.Is(pctx.Err(), context.DeadlineExceeded) {
			return e.errorf(sdk.KindTimeout, "no pong within %v", e.c.s.pongTimeout)
		}
		return e.errorf(sdk.KindConnectionFailed, "ping: %v", err)
	}
	return nil
}

// send writes frames (those whose errs entry is still nil), in order, and with
// confirm pings. It sets the errs of what failed and returns how many frames were
// sent. A failed write or confirm drops the connection: it reconnects, and the host
// sends the values again.
func (e *endpoint) send(ctx context.Context, frames []frame, errs []error, confirm bool) int {
	conn := e.current()
	if conn == nil {
		fill(errs, 0, e.rc.Health())
		return 0
	}
	written := 0
	for i, f := range frames {
		if errs[i] != nil {
			continue
		}
		typ := websocket.MessageText
		if f.binary {
			typ = websocket.MessageBinary
		}
		if err := conn.Write(ctx, typ, f.data); err != nil {
			kind := sdk.KindConnectionFailed
			if ctx.Err() != nil {
				kind = sdk.KindTimeout
			}
			conn.CloseNow()
			from := i
			if confirm {
				from = 0 // frames written before are not confirmed either
			}
			fill(errs, from, e.errorf(kind, "write: %v", err))
			if confirm {
				return 0
			}
			return written
		}
		written++
	}
	if confirm && written > 0 {
		if err := e.ping(ctx, conn); err != nil {
			conn.CloseNow()
			fill(errs, 0, sdk.Wrap(sdk.KindTimeout, err))
			return 0
		}
	}
	return written
}
