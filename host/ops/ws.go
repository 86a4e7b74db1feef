package ops

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/aimdb-dev/aimdb-go/host/control"
)

// wsVersionOK reports whether the v query parameter asks for a protocol version
// this server speaks: AimX major version 3 ("3", "3.0", "3.1", ...).
func wsVersionOK(v string) bool {
	major, _, _ := strings.Cut(v, ".")
	return major == control.ProtocolVersion
}

// serveWS upgrades /ws?v=3.0 to a WebSocket and serves the control protocol on it,
// one frame per text message, with the same implementation as the control socket.
// A missing or incompatible version gets 426 Upgrade Required, as upstream AimDB
// answers.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("v"); !wsVersionOK(v) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUpgradeRequired)
		if v == "" {
			_, _ = io.WriteString(w, "426 upgrade required: connect to /ws?v=3.0 (AimX protocol version 3)\n")
		} else {
			_, _ = io.WriteString(w, "426 upgrade required: this server speaks AimX protocol version 3, not "+v+"; connect to /ws?v=3.0\n")
		}
		return
	}
	hj := &corkHijacker{ResponseWriter: w}
	c, err := websocket.Accept(hj, r, nil) // refuses cross-origin pages
	if err != nil {
		s.log.Debug("websocket upgrade failed", "client", r.RemoteAddr, "error", err)
		return
	}
	// The server enforces its own frame limit (control.Options.MaxFrame): a frame over
	// it is skipped and answered, and the connection goes on.
	c.SetReadLimit(-1)
	_ = s.ctl.ServeTransport(&wsTransport{c: c, nc: hj.conn, peer: "websocket " + r.RemoteAddr})
}

// wsTransport is a control.Transport over a WebSocket: one frame per text message.
type wsTransport struct {
	c       *websocket.Conn
	nc      *corkConn
	peer    string
	buf     bytes.Buffer
	idle    atomic.Bool // the read deadline passed
	hanging atomic.Bool // Hangup began
}

// timeoutError is what the transport returns when a deadline passed.
type timeoutError struct{ op string }

func (e timeoutError) Error() string   { return "websocket " + e.op + " timed out" }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return false }

var _ net.Error = timeoutError{}

// ReadFrame reads the next message. At the deadline the connection is closed with
// a close frame saying why (a cancelled read would close it without one).
func (t *wsTransport) ReadFrame(deadline time.Time, maxBytes int) ([]byte, error) {
	timer := time.AfterFunc(time.Until(deadline), func() {
		t.idle.Store(true)
		_ = t.c.Close(websocket.StatusPolicyViolation, "idle: no frame for too long (send a ping now and then)")
	})
	defer timer.Stop()
	_, r, err := t.c.Reader(context.Background())
	if err != nil {
		return nil, t.readErr(err)
	}
	t.buf.Reset()
	n, err := t.buf.ReadFrom(io.LimitReader(r, int64(maxBytes)+1))
	if err != nil {
		return nil, t.readErr(err)
	}
	if n > int64(maxBytes) {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, t.readErr(err)
		}
		return nil, control.ErrFrameTooLong
	}
	return t.buf.Bytes(), nil
}

// readErr maps a read error: a passed deadline, a normal close (EOF) or the cause.
func (t *wsTransport) readErr(err error) error {
	switch {
	case t.idle.Load():
		return timeoutError{"read"}
	case websocket.CloseStatus(err) == websocket.StatusNormalClosure, websocket.CloseStatus(err) == websocket.StatusGoingAway:
		return io.EOF
	}
	return err
}

// WriteFrames writes each frame as one text message (without its newline); the
// messages go to the network in one write, which must finish before deadline.
func (t *wsTransport) WriteFrames(frames [][]byte, deadline time.Time) error {
	t.nc.cork()
	for _, b := range frames {
		if t.hanging.Load() {
			break
		}
		if err := t.c.Write(context.Background(), websocket.MessageText, bytes.TrimSuffix(b, []byte{'\n'})); err != nil {
			_ = t.nc.uncork(deadline)
			return err
		}
	}
	if err := t.nc.uncork(deadline); err != nil {
		return err // a passed deadline is a net.Error whose Timeout() is true
	}
	if t.hanging.Load() {
		return net.ErrClosed
	}
	return nil
}

// Hangup sends frame as the last message (giving up after a second when a write is
// stuck) and closes the connection.
func (t *wsTransport) Hangup(frame []byte) {
	t.hanging.Store(true)
	t.nc.interrupt(time.Now().Add(control.HangupGrace)) // ends a write stuck on a client that does not read
	ctx, cancel := context.WithTimeout(context.Background(), control.HangupGrace)
	defer cancel()
	if t.c.Write(ctx, websocket.MessageText, bytes.TrimSuffix(frame, []byte{'\n'})) != nil {
		_ = t.c.CloseNow()
		return
	}
	_ = t.c.Close(websocket.StatusPolicyViolation, "closed by the server (see the last frame)")
}

// Close closes the connection at once.
func (t *wsTransport) Close() error { return t.c.CloseNow() }

// String names the client for log lines.
func (t *wsTransport) String() string { return t.peer }
