package ops

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/control"
)

// DefaultAddr is where `aimdb demo` listens.
const DefaultAddr = "127.0.0.1:9180"

// Options configure the listener.
type Options struct {
	// Addr is host:port to listen on (port 0 picks a free one; see Server.Addr).
	Addr string
	// Token, when set, must come with every request (see requireToken). Listening
	// anywhere but on a loopback address requires one (CheckBind).
	Token string
	// Pprof serves Go's profiler at /debug/pprof/.
	Pprof bool
	// Version is reported as aimdb_build_info's label and by hello.
	Version string
	// Control tunes the protocol on /ws. Zero fields take WebSocket defaults: up to
	// 256 connections, 64 KiB of frames queued per connection, at most 250 events a
	// second per connection, and a client that does not take a write for 10 s is
	// cut off.
	Control control.Options
	// Logger gets the listener's log lines.
	Logger hclog.Logger
}

// WebSocket defaults (Options.Control).
const (
	wsMaxConns     = 256
	wsQueueLen     = 64
	wsQueueBytes   = 64 << 10
	wsWriteTimeout = 10 * time.Second
	wsMaxEventRate = 250
)

// Server is the operations listener of one database.
type Server struct {
	db   *host.DB
	log  hclog.Logger
	ln   net.Listener
	ctl  *control.Server
	http *http.Server
}

// Listen checks opts.Addr against opts.Token (CheckBind) and listens on it; Serve
// then answers requests.
func Listen(db *host.DB, opts Options) (*Server, error) {
	if err := CheckBind(opts.Addr, opts.Token != ""); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	co := opts.Control
	if co.MaxConns == 0 {
		co.MaxConns = wsMaxConns
	}
	if co.QueueLen == 0 {
		co.QueueLen = wsQueueLen
	}
	if co.QueueBytes == 0 {
		co.QueueBytes = wsQueueBytes
	}
	if co.WriteTimeout == 0 {
		co.WriteTimeout = wsWriteTimeout
	}
	if co.MaxEventRate == 0 {
		co.MaxEventRate = wsMaxEventRate
	}
	if co.ServerVersion == "" {
		co.ServerVersion = opts.Version
	}
	if co.Logger == nil {
		co.Logger = opts.Logger.Named("ws")
	}
	s := &Server{db: db, log: opts.Logger, ln: ln, ctl: control.NewServer(control.ForDB(db), co)}
	var h http.Handler = s.routes(opts)
	if opts.Token != "" {
		h = requireToken(opts.Token, h)
	}
	s.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: opts.Logger.Named("http").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})}
	return s, nil
}

// routes is every endpoint.
func (s *Server) routes(opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(newGatherer(s.db, opts.Version, opts.Logger), opts.Logger))
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", readyz(s.db))
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.Handle("GET /", dashboard())
	if opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// scrapeGzipLevel is how hard a /metrics answer is gzipped: a large hub's text is
// megabytes of repeated names that the fastest level shrinks about 20 times already.
const scrapeGzipLevel = gzip.BestSpeed

// metricsHandler serves what g gathers in the format the client asks for, compressed
// as it accepts (gzip at scrapeGzipLevel, or zstd).
func metricsHandler(g prometheus.TransactionalGatherer, log hclog.Logger) http.Handler {
	compress, err := gzhttp.NewWrapper(gzhttp.CompressionLevel(scrapeGzipLevel))
	if err != nil {
		panic(err) // constant options
	}
	return bufferedScrape(scrapeTimeout, compress(promhttp.HandlerForTransactional(g, promhttp.HandlerOpts{
		ErrorLog:           log.Named("metrics").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		ErrorHandling:      promhttp.HTTPErrorOnError, // g never fails; a failed write ends the answer
		DisableCompression: true,                      // compress does it
	})))
}

// scrapeTimeout is how long a /metrics client has to take the answer.
const scrapeTimeout = 10 * time.Second

// scrapeBuffer is how much of a /metrics answer is written at once.
const scrapeBuffer = 64 << 10

// bufferedScrape gives h d to write its answer, in writes of scrapeBuffer bytes: a
// client that stops reading is cut off. (Gathering waits on nothing outside the
// process, so it needs no timeout of its own; promhttp's would hold the whole answer
// in memory before sending it.)
func bufferedScrape(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		bw := &bufferedWriter{ResponseWriter: w, buf: bufio.NewWriterSize(w, scrapeBuffer)}
		h.ServeHTTP(bw, r)
		_ = bw.buf.Flush()
	})
}

// bufferedWriter is a ResponseWriter whose body goes through buf.
type bufferedWriter struct {
	http.ResponseWriter
	buf *bufio.Writer
}

// Write buffers p.
func (w *bufferedWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

// Unwrap lets http.ResponseController reach the server's writer.
func (w *bufferedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Addr is the address the listener is bound to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers requests until Close; it returns nil then.
func (s *Server) Serve() error {
	if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close closes every WebSocket connection and the listener.
func (s *Server) Close() error {
	s.ctl.Close()
	return s.http.Close()
}
