package httpconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Server limits of the inbound listener. Bodies are small (inbound_max_body), so a
// client that needs longer than these to send one is stuck or hostile.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
)

// probeTimeout bounds the health check's connection attempt to an unreachable server.
const probeTimeout = 2 * time.Second

// connector is one HTTP connector instance: an outbound client and, when listen is
// set, an inbound server.
type connector struct {
	name   string
	s      *settings
	client *http.Client
	log    hclog.Logger
	router *sdk.Router
	host   sdk.Host
	routes map[uint32]routeOptions
	// secrets masks the credentials in what the connector quotes (reply bodies,
	// reasons); the SDK masks its log lines and errors with it too.
	secrets *sdk.Redactor

	// closing is cancelled by Close, which ends outbound retries.
	closing     context.Context
	stopClosing context.CancelFunc
	lastOut     atomic.Pointer[outFailure]

	// readable holds the link_to destinations whose link has allow_get (known at
	// build, read-only after): GET on any other path that is no link_from is 404,
	// whatever the host would answer.
	readable map[string]bool

	srv      *http.Server // nil without listen
	addr     net.Addr
	serveErr atomic.Pointer[error] // set when the listener stopped on its own
}

// outFailure is the last outbound failure that says the server is unreachable.
type outFailure struct {
	err    error
	status int // HTTP status of the last answer; 0 when the server did not answer
	at     time.Time
}

// routeOptions are a link_from's options, parsed once at build.
type routeOptions struct {
	allowGet    bool
	contentType string
}

// newConnector makes the outbound client and, when listen is set, binds the listener.
func newConnector(b *sdk.BuildContext, s *settings, routes map[uint32]routeOptions, readable map[string]bool) (*connector, error) {
	c := &connector{
		name: b.Instance, s: s, log: b.Logger, router: b.Router, host: b.Host, routes: routes, readable: readable,
		secrets: b.Secrets,
	}
	// The SDK knows the values of the _env options; basic auth sends user:password,
	// which only the connector puts together.
	c.secrets.Add(s.auth.token, s.auth.basicPass, s.in.token)
	if s.auth.basicIsSet {
		c.secrets.Add(s.auth.basicUser + ":" + s.auth.basicPass)
	}
	c.closing, c.stopClosing = context.WithCancel(context.Background())
	if s.base != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = s.base.tls
		tr.MaxIdleConnsPerHost = 16
		c.client = &http.Client{
			Transport: tr,
			// A webhook goes to the address configured, not wherever a server points:
			// following a 301/302 would even turn the POST into a GET.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.in.listen == "" {
		return c, nil
	}
	ln, err := net.Listen("tcp", s.in.listen)
	if err != nil {
		c.stopClosing()
		return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optListen, "%v", err)
	}
	c.addr = ln.Addr()
	c.srv = &http.Server{
		Handler:           c,
		TLSConfig:         s.in.tls,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          b.Logger.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	scheme := "http"
	if s.in.tls != nil {
		scheme = "https"
	}
	c.log.Info("listening for inbound requests", "address", scheme+"://"+c.addr.String())
	b.Go("http-listener", func(context.Context) {
		var err error
		if s.in.tls != nil {
			err = c.srv.ServeTLS(ln, "", "")
		} else {
			err = c.srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			err = fmt.Errorf("listener on %s stopped: %w", c.addr, err)
			c.serveErr.Store(&err)
			c.log.Error("inbound listener stopped", "error", err)
		}
	})
	return c, nil
}

// ListenAddr returns the address the inbound listener is bound to (useful with
// listen = "127.0.0.1:0"), or nil when the connector has no listener.
func (c *connector) ListenAddr() net.Addr { return c.addr }

// Health reports the listener stopping on its own, and the last outbound failure that
// was a connection error, timeout or server error, until a later request gets a
// non-failing answer or, when the server did not answer at all, until it accepts a
// TCP connection again.
func (c *connector) Health(ctx context.Context) error {
	if c.closing.Err() != nil {
		return sdk.Errorf(sdk.KindClosed, "connector %q is closed", c.name)
	}
	var errs []error
	if p := c.serveErr.Load(); p != nil {
		errs = append(errs, sdk.Wrap(sdk.KindConnectionFailed, *p))
	}
	if f := c.lastOut.Load(); f != nil {
		ago := time.Since(f.at).Round(time.Second)
		switch {
		case f.status != 0:
			errs = append(errs, fmt.Errorf("last outbound request, %s ago, failed: %w", ago, f.err))
		case c.probe(ctx) == nil:
			c.lastOut.CompareAndSwap(f, nil)
		default:
			errs = append(errs, fmt.Errorf("last outbound request, %s ago, failed and the server is still unreachable: %w", ago, f.err))
		}
	}
	return errors.Join(errs...)
}

// probe checks that a server that did not answer accepts TCP connections again, so
// health recovers without waiting for the next value to send.
func (c *connector) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.s.base.addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Close ends outbound requests and retries in flight (their Publish fails with
// KindClosed), stops accepting inbound connections and waits, as far as ctx allows,
// for inbound requests in flight to get the host's answer.
func (c *connector) Close(ctx context.Context) error {
	c.stopClosing()
	if c.client != nil {
		defer c.client.CloseIdleConnections()
	}
	if c.srv == nil {
		return nil
	}
	if err := c.srv.Shutdown(ctx); err != nil {
		_ = c.srv.Close()
		return sdk.Errorf(sdk.KindTimeout, "connector %q: inbound requests still in flight when the close deadline passed: %v", c.name, err)
	}
	return nil
}
