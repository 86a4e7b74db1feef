package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// dialer opens the broker connection for paho: TCP or TLS within connect_timeout,
// with reads buffered and writes coalesced. paho reads each packet's header byte by
// byte from the connection, and writes each packet with its own Write; the buffer and
// the flusher (coalescingConn) turn those into one system call for many packets.
func dialer(tlsCfg *tls.Config, timeout time.Duration) paho.OpenConnectionFunc {
	return func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", uri.Host)
		if err != nil {
			return nil, err
		}
		if tlsCfg != nil {
			cfg := tlsCfg
			if cfg.ServerName == "" {
				cfg = cfg.Clone()
				cfg.ServerName = uri.Hostname()
			}
			tc := tls.Client(conn, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		return &bufferedConn{Conn: newCoalescingConn(conn), r: bufio.NewReaderSize(conn, 32<<10)}, nil
	}
}

// bufferedConn is a net.Conn whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads from the buffer, refilling it from the connection.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
