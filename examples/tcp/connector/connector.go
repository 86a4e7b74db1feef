// Package connector links AimDB records to a line protocol over TCP. The connector
// keeps one connection to a server, connecting in the background and again after
// every loss. The protocol is text lines, payloads in base64:
//
//	server → connector  HELLO                      the server is ready
//	connector → server  SUB <pattern>              send me the messages on matching topics
//	connector → server  PUB <topic> <base64>       a message
//	server → connector  MSG <id> <topic> <base64>  a message for a subscription
//	connector → server  ACK <id> | NACK <id>       taken, or not taken (deliver it again later)
package connector

import (
	"bufio"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

const (
	// MaxPayload is the largest payload a line carries: in base64 it still fits the
	// 64 KiB a bufio.Scanner reads by default.
	MaxPayload = 32 << 10

	handshakeTimeout = 5 * time.Second  // bounds dialing, the greeting and subscribing
	stallTimeout     = 30 * time.Second // bounds a write whose caller set no deadline
)

// Builder builds TCP connector instances.
type Builder struct{}

// NewBuilder returns the TCP connector's builder.
func NewBuilder() sdk.ConnectorBuilder { return Builder{} }

// Scheme is "tcp": links are written tcp://topic.
func (Builder) Scheme() string { return "tcp" }

// Describe tells the host the connector's version, capabilities and limit.
func (Builder) Describe() sdk.Description {
	caps := []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards, sdk.CapAckCommit, sdk.CapHealth}
	return sdk.Description{Version: "0.1.0", Capabilities: caps, MaxPayload: MaxPayload}
}

// ValidateConfig checks the URL and the links' topics without connecting.
func (Builder) ValidateConfig(u sdk.URL, options sdk.Config, links []sdk.LinkSpec) error {
	_, err := parseURL(u, options)
	for _, l := range links {
		err = cmp.Or(err, checkTopic(l.Resource, l.Direction == sdk.Inbound))
	}
	return err
}

// Build checks the configuration and starts connecting in the background: it does
// not wait for the server, which may not be up yet.
func (Builder) Build(_ context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	addr, err := parseURL(b.URL, b.Options)
	for _, rt := range b.Routes {
		err = cmp.Or(err, checkTopic(rt.Resource, true))
	}
	if err != nil {
		return nil, err
	}
	c := &conn{addr: addr, router: b.Router, wlock: make(chan struct{}, 1)}
	// The reconnector runs session again and again, waiting between attempts: 100 ms
	// doubling to 10 s, jittered, so a server that is down is not hammered.
	c.rc = &sdk.Reconnector{Name: "line server " + addr, Session: c.session, Logger: b.Logger,
		Backoff: sdk.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}}
	b.Go("connect", c.rc.Run)
	return c, nil
}

// parseURL reads the URL tcp://host:port; the connector takes no options.
func parseURL(u sdk.URL, options sdk.Config) (string, error) {
	if err := options.Unknown(); err != nil {
		return "", err
	}
	addrs, err := u.Addrs(0)
	if err != nil || len(addrs) != 1 {
		return "", sdk.Wrap(sdk.KindInvalidConfig, cmp.Or(err, fmt.Errorf("url %s: want one host:port, got %d", u, len(addrs))))
	}
	return addrs[0], nil
}

// checkTopic checks that a topic fits the protocol: 1 to 255 bytes, without the
// spaces and line breaks that separate its fields, and wildcards only in an inbound
// pattern (where the SDK checks them).
func checkTopic(topic string, pattern bool) error {
	if topic == "" || len(topic) > 255 || strings.ContainsAny(topic, " \r\n") || !pattern && sdk.HasWildcard(topic) {
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %.40q: want 1 to 255 bytes without spaces or line breaks (and no + or # in a destination)", topic)
	}
	return nil
}

// conn is one TCP connector instance.
type conn struct {
	addr   string
	router *sdk.Router
	rc     *sdk.Reconnector
	wlock  chan struct{}            // held while a line is written; a channel, so waiting honours ctx
	nc     atomic.Pointer[net.Conn] // the connection in use; nil while down
}

// Publish writes one PUB line. While the connection is down it fails at once with
// KindConnectionFailed (the reconnector's health says why), so the host keeps the
// value and sends it again later.
func (c *conn) Publish(ctx context.Context, destination string, _ sdk.Config, payload []byte) error {
	if err := checkTopic(destination, false); err != nil {
		return err
	}
	if len(payload) > MaxPayload {
		return sdk.Errorf(sdk.KindMessageTooLarge, "%d bytes to %q: the limit is %d", len(payload), destination, MaxPayload)
	}
	if nc := c.nc.Load(); nc != nil {
		return c.send(ctx, *nc, fmt.Appendf(nil, "PUB %s %s\n", destination, base64.StdEncoding.EncodeToString(payload)))
	}
	return cmp.Or(c.rc.Health(), sdk.Errorf(sdk.KindConnectionFailed, "%s: reconnecting", c.addr))
}

// send writes one line on nc, one writer at a time and never past ctx's deadline. A
// server that stops reading fills the socket's buffer and the write waits: that is
// back-pressure, and the deadline bounds it. A failed write may have cut its line
// short, which breaks the framing, so it ends the connection; the reconnector
// starts a new one.
func (c *conn) send(ctx context.Context, nc net.Conn, line []byte) error {
	select {
	case c.wlock <- struct{}{}:
		defer func() { <-c.wlock }()
	case <-ctx.Done():
		return sdk.Errorf(sdk.KindTimeout, "%s: waiting to write: %w", c.addr, ctx.Err())
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(stallTimeout)
	}
	_ = nc.SetWriteDeadline(deadline)
	if _, err := nc.Write(line); err != nil {
		nc.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return sdk.Errorf(sdk.KindTimeout, "%s: %w", c.addr, err)
		}
		return sdk.Errorf(sdk.KindConnectionFailed, "%s: %w", c.addr, err)
	}
	return nil
}

// Health is the reconnector's: nil while connected, otherwise what is down, since
// when and why.
func (c *conn) Health(context.Context) error { return c.rc.Health() }

// Close has nothing to do: the SDK then cancels the instance's context, which ends
// the session (closing its connection) and the reconnector, and waits for both.
func (c *conn) Close(context.Context) error { return nil }

// session is one connection, run by the reconnector: dial, wait for the server's
// greeting, subscribe to every route's pattern, then read until the connection
// breaks or the instance closes. It subscribes on every connect, so inbound links
// survive outages, and marks the connection up only once it is usable.
func (c *conn) session(ctx context.Context) error {
	nc, err := (&net.Dialer{Timeout: handshakeTimeout}).DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	defer context.AfterFunc(ctx, func() { nc.Close() })() // the instance closes: end the reads
	lines := bufio.NewScanner(nc)
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	if !lines.Scan() || lines.Text() != "HELLO" {
		return fmt.Errorf("%s: no HELLO from the server (%v)", c.addr, cmp.Or(lines.Err(), io.EOF))
	}
	for _, pattern := range c.router.ResourceIDs() {
		if _, err := fmt.Fprintf(nc, "SUB %s\n", pattern); err != nil {
			return err
		}
	}
	_ = nc.SetDeadline(time.Time{})
	c.nc.Store(&nc)
	c.rc.MarkUp()
	err = c.receive(ctx, nc, lines)
	c.rc.MarkDown(err)
	c.nc.Store(nil)
	return err
}

// receive reads MSG lines until the connection breaks. Route hands each message to
// the host and returns once the host took it, or says why not; only then does the
// server get its answer: NACK when the host cannot take it now, so the server
// delivers it again, and ACK otherwise (taken, or refused for good: the host
// dead-letters a payload that does not deserialize). Decoding gives each payload a
// slice of its own, which the host may keep.
func (c *conn) receive(ctx context.Context, nc net.Conn, lines *bufio.Scanner) error {
	for lines.Scan() {
		f := strings.SplitN(lines.Text(), " ", 4) // MSG <id> <topic> <base64>
		payload, err := base64.StdEncoding.DecodeString(f[len(f)-1])
		if len(f) != 4 || f[0] != "MSG" || err != nil {
			c.rc.Logger.Warn("ignoring a line that is not MSG <id> <topic> <base64>", "starts", f[0])
			continue
		}
		answer := "ACK "
		if err := c.router.Route(ctx, f[2], payload); sdk.Retryable(err) {
			answer = "NACK "
		}
		if err := c.send(ctx, nc, []byte(answer+f[1]+"\n")); err != nil {
			return err
		}
	}
	return cmp.Or(lines.Err(), io.EOF)
}
