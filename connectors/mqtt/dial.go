package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/aimdb-dev/aimdb-go/internal/rawio"
)

// dialer opens the broker connection for paho: TCP or TLS within connect_timeout,
// with reads buffered and writes coalesced (dial).
func dialer(tlsCfg *tls.Config, timeout time.Duration, ackNow func() bool) paho.OpenConnectionFunc {
	return func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return dial(ctx, uri.Host, tlsCfg, ackNow)
	}
}

// dial opens a connection to addr ("host:port"), over TLS when tlsCfg is set, with
// reads buffered, writes coalesced and what the broker sends acknowledged at once
// (quickAck) when ackNow says so (nil: always). The paho clients read each packet's
// header byte by byte from the connection, and write each packet with one or more
// Writes; the buffer and the flusher (coalescingConn) turn those into one system call
// for many packets.
func dial(ctx context.Context, addr string, tlsCfg *tls.Config, ackNow func() bool) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn = quickAck(rawio.Wrap(conn), ackNow)
	if tlsCfg != nil {
		cfg := tlsCfg
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg = cfg.Clone()
			cfg.ServerName = host
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

// bufferedConn is a net.Conn whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads from the buffer, refilling it from the connection.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
