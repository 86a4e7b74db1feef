package control

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Options tune a Server. Zero values take the defaults.
type Options struct {
	// MaxConns bounds concurrent connections (default 32); one more is refused.
	MaxConns int
	// MaxSubs bounds subscriptions per connection (default 64).
	MaxSubs int
	// QueueLen is how many frames wait for a slow client before its events are
	// dropped and counted as lag (default 256).
	QueueLen int
	// MaxFrame is the longest frame a client may send, in bytes (default 1 MiB):
	// large enough for any record value, small enough that a stuck client cannot
	// make the server buffer without end.
	MaxFrame int
	// ReadOnly refuses record.set and write frames.
	ReadOnly bool
	// ServerVersion is reported by hello.
	ServerVersion string
	// Logger gets connection errors; nil discards them.
	Logger hclog.Logger
}

func (o *Options) defaults() {
	if o.MaxConns <= 0 {
		o.MaxConns = 32
	}
	if o.MaxSubs <= 0 {
		o.MaxSubs = 64
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 256
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = 1 << 20
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

// Serve accepts connections on l until Close; it returns ErrServerClosed then.
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
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if len(s.conns) >= s.opts.MaxConns {
			s.mu.Unlock()
			s.opts.Logger.Warn("control: connection refused, too many connections", "max", s.opts.MaxConns)
			refuse(nc, s.opts.MaxConns)
			continue
		}
		c := newConn(s, nc)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
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
func refuse(nc net.Conn, max int) {
	b, _ := encodeFrame(&Frame{T: TagReply, Err: CodeLimit, Msg: "too many control connections (limit " + itoa(max) + ")"})
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = nc.Write(b)
	nc.Close()
}

// hello answers the hello method.
func (s *Server) hello() Hello {
	h := Hello{
		Protocol: "aimx", Version: ProtocolVersion, Server: "aimdb-go", ServerVersion: s.opts.ServerVersion,
		Permissions: []string{"read", "subscribe"}, Writable: []string{},
		MaxSubs: s.opts.MaxSubs, MaxFrame: s.opts.MaxFrame,
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

// contextFor returns a context cancelled when done is closed.
func contextFor(done <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
