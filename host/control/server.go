package control

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Options tune a Server. Zero values take the defaults.
type Options struct {
	// MaxConns bounds concurrent connections (default 32). When they are all taken, a
	// new connection closes the one that has been idle longest (see evictIdle); only
	// when every connection is busy is the new one refused.
	MaxConns int
	// MaxSubs bounds subscriptions per connection (default 64).
	MaxSubs int
	// MaxWatched bounds the records one connection follows over all its subscriptions
	// (default 16384). Following a record costs under 1 KiB (its reader in the record's
	// buffer and the server's bookkeeping: TestSubscriptionMemoryBound measures about
	// 9 MiB for 10,000 records, client included), so a connection's subscriptions hold
	// at most about 16 MiB.
	MaxWatched int
	// QueueLen is how many frames may wait for a slow client (default 256).
	QueueLen int
	// QueueBytes is how many bytes of frames may wait for a slow client (default
	// 1 MiB). When QueueLen or QueueBytes is reached, the connection's subscriptions
	// stop reading until the client catches up: values wait in the records' buffers,
	// which never make a writer wait (rings overwrite their oldest value and the
	// subscriber learns how many it lost, single_latest records keep only the newest).
	QueueBytes int
	// MaxFrame is the longest frame a client may send, in bytes (default 1 MiB):
	// large enough for any record value, small enough that a stuck client cannot
	// make the server buffer without end.
	MaxFrame int
	// IdleTimeout closes a connection that sent no frame for this long (default 5
	// minutes). Clients that stay connected send a ping now and then (Client does,
	// every 30 seconds).
	IdleTimeout time.Duration
	// WriteTimeout cuts off a client that has not taken a write for this long: it
	// stopped reading (default 0: never; values then wait in the records, see
	// QueueBytes). The WebSocket listener sets it, so a browser tab that hangs
	// cannot hold a connection.
	WriteTimeout time.Duration
	// MaxEventRate bounds the events one connection is sent per second (default 0:
	// no bound). Values over it wait in the records, where a watcher that falls
	// behind skips and counts them (lag), as for a client that reads slowly. The
	// WebSocket listener sets it, so that many browser tabs cannot take the CPU the
	// hub needs for its links and the control socket.
	MaxEventRate int
	// ReadOnly refuses record.set and write frames.
	ReadOnly bool
	// ServerVersion is reported by hello.
	ServerVersion string
	// Logger gets connection errors; nil discards them.
	Logger hclog.Logger
}

// DefaultIdleTimeout is Options.IdleTimeout's default.
const DefaultIdleTimeout = 5 * time.Minute

// evictIdle is how long a connection must have been quiet before a new connection may
// take its place: one that sent a frame within the last second is in a conversation.
const evictIdle = time.Second

func (o *Options) defaults() {
	if o.MaxConns <= 0 {
		o.MaxConns = 32
	}
	if o.MaxSubs <= 0 {
		o.MaxSubs = 64
	}
	if o.MaxWatched <= 0 {
		o.MaxWatched = 1 << 14
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 256
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 1 << 20
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = 1 << 20
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
}

// Server answers control connections over a Backend.
type Server struct {
	backend Backend
	opts    Options

	mu     sync.Mutex
	ln     net.Listener
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a server over backend.
func NewServer(backend Backend, opts Options) *Server {
	opts.defaults()
	return &Server{backend: backend, opts: opts, conns: make(map[*conn]struct{})}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("control server closed")

// Serve accepts connections on l until Close, each carrying lines of JSON
// (NewLineTransport); it returns ErrServerClosed then.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.ln = l
	s.mu.Unlock()
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		c, err := s.admit(NewLineTransport(nc))
		if errors.Is(err, ErrServerClosed) {
			return err
		}
		if c != nil {
			go s.run(c)
		}
	}
}

// ServeTransport serves one connection over t until it ends, then returns; over the
// connection limit it tells the client why and returns at once. It returns
// ErrServerClosed once the server is closed.
func (s *Server) ServeTransport(t Transport) error {
	c, err := s.admit(t)
	if c != nil {
		s.run(c)
	}
	return err
}

// admit takes t as a connection within MaxConns, closing the connection idle longest
// to make room; when every connection is busy, it refuses t and returns nil.
func (s *Server) admit(t Transport) (*conn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		t.Close()
		return nil, ErrServerClosed
	}
	if len(s.conns) >= s.opts.MaxConns {
		victim, idle := s.oldestIdle()
		if victim == nil {
			s.mu.Unlock()
			s.opts.Logger.Warn("control: connection refused: every connection is busy", "client", t.String(), "max", s.opts.MaxConns)
			refuse(t, s.opts.MaxConns)
			return nil, nil
		}
		// The victim leaves the count now; its goroutines end on their own.
		delete(s.conns, victim)
		s.opts.Logger.Debug("control: closing the connection idle longest to make room", "client", victim.tr.String(), "idle", idle.String())
		go victim.hangUp(fmt.Sprintf("connection closed to make room for a new one: the limit is %d connections and this one was idle longest (%s)",
			s.opts.MaxConns, idle.Round(time.Millisecond)))
	}
	c := newConn(s, t)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	return c, nil
}

// run serves an admitted connection until it ends.
func (s *Server) run(c *conn) {
	defer s.wg.Done()
	c.serve()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// oldestIdle returns the connection that has sent nothing for longest, if that is at
// least evictIdle. s.mu is held.
func (s *Server) oldestIdle() (*conn, time.Duration) {
	now := time.Now().UnixNano()
	var victim *conn
	var longest time.Duration
	for c := range s.conns {
		if idle := time.Duration(now - c.lastRead.Load()); idle >= evictIdle && idle > longest {
			victim, longest = c, idle
		}
	}
	return victim, longest
}

// Close stops accepting, closes every connection and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// refuse tells a client over the connection limit why, then hangs up.
func refuse(t Transport, max int) {
	b, _ := encodeFrame(&Frame{T: TagReply, Err: CodeLimit, Msg: "too many control connections (limit " + itoa(max) + "), and every one is busy"})
	t.Hangup(b)
}

// hello answers the hello method.
func (s *Server) hello() Hello {
	h := Hello{
		Protocol: "aimx", Version: ProtocolVersion, Server: "aimdb-go", ServerVersion: s.opts.ServerVersion,
		Permissions: []string{"read", "subscribe"}, Writable: []string{},
		MaxSubs: s.opts.MaxSubs, MaxWatched: s.opts.MaxWatched, MaxFrame: s.opts.MaxFrame,
		IdleTimeoutMS: s.opts.IdleTimeout.Milliseconds(),
	}
	if !s.opts.ReadOnly {
		h.Permissions = append(h.Permissions, "write")
		for _, r := range s.backend.Records() {
			if r.Writable {
				h.Writable = append(h.Writable, r.Key)
			}
		}
	}
	return h
}
