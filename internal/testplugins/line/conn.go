package line

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
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

const (
	handshakeTimeout = 5 * time.Second  // bounds dialing, the greeting, subscribing and each answer
	stallTimeout     = 30 * time.Second // bounds a write whose caller set no deadline
)

// conn is one line connector instance.
type conn struct {
	fault  Fault
	addr   string
	router *sdk.Router
	log    hclog.Logger
	life   context.Context // the instance's
	rc     *sdk.Reconnector
	wlock  chan struct{} // one writer at a time; waiting for it honours ctx
	mu     sync.Mutex    // the IgnoreCtx fault's lock, which waits regardless

	nc         atomic.Pointer[net.Conn] // the connection in use; nil while down
	subscribed atomic.Bool              // a first connection subscribed (NoResubscribe)
	wasUp      atomic.Bool              // a first connection came up (HealthyWhileDown)
}

// Publish writes one PUB line; while down it fails at once with the reconnector's
// health.
func (c *conn) Publish(ctx context.Context, destination string, _ sdk.Config, payload []byte) error {
	if err := checkTopic(destination); err != nil {
		return err
	}
	if sdk.HasWildcard(destination) {
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %q: a destination cannot hold + or #", destination)
	}
	if len(payload) > MaxPayload {
		return sdk.Errorf(sdk.KindMessageTooLarge, "%d bytes to %q: the limit is %d", len(payload), destination, MaxPayload)
	}
	nc := c.nc.Load()
	for nc == nil && c.fault == BlockWhileDown {
		select {
		case <-ctx.Done():
			return sdk.Errorf(sdk.KindTimeout, "%s: still down: %w", c.addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		nc = c.nc.Load()
	}
	if nc == nil {
		return cmp.Or(c.rc.Health(), sdk.Errorf(sdk.KindConnectionFailed, "%s: reconnecting", c.addr))
	}
	return c.send(ctx, *nc, fmt.Appendf(nil, "PUB %s %s\n", destination, base64.StdEncoding.EncodeToString(payload)))
}

// send writes one line on nc, one writer at a time, by ctx's deadline. A failed
// write may have cut its line short, so it ends the connection.
func (c *conn) send(ctx context.Context, nc net.Conn, line []byte) error {
	if c.fault == IgnoreCtx {
		c.mu.Lock()
		defer c.mu.Unlock()
		_ = nc.SetWriteDeadline(time.Time{})
	} else {
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
	}
	if _, err := nc.Write(line); err != nil {
		nc.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return sdk.Errorf(sdk.KindTimeout, "%s: %w", c.addr, err)
		}
		return sdk.Errorf(sdk.KindConnectionFailed, "%s: %w", c.addr, err)
	}
	return nil
}

func (c *conn) Health(context.Context) error {
	if c.fault == HealthyWhileDown && c.wasUp.Load() {
		return nil
	}
	return c.rc.Health()
}

func (c *conn) Close(context.Context) error {
	if c.fault == CloseHangs {
		select {}
	}
	return nil
}

// session is one connection: dial, greeting, subscriptions, then the reads.
func (c *conn) session(ctx context.Context) error {
	nc, err := (&net.Dialer{Timeout: handshakeTimeout}).DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	defer context.AfterFunc(ctx, func() { nc.Close() })()
	lines := bufio.NewReader(nc)
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	if hello, err := lines.ReadString('\n'); err != nil || hello != "HELLO\n" {
		return fmt.Errorf("%s: no HELLO from the server (%v)", c.addr, cmp.Or(err, io.EOF))
	}
	if c.fault != NoResubscribe || !c.subscribed.Load() {
		for _, pattern := range c.router.ResourceIDs() {
			if _, err := fmt.Fprintf(nc, "SUB %s\n", pattern); err != nil {
				return err
			}
		}
		c.subscribed.Store(true)
	}
	_ = nc.SetDeadline(time.Time{})
	c.nc.Store(&nc)
	c.rc.MarkUp()
	c.wasUp.Store(true)
	switch c.fault {
	case Stdout:
		fmt.Println("line: connected to", c.addr)
	case LeakPerReconnect:
		go c.keepalive(nc)
	}
	err = c.receive(ctx, nc, lines)
	c.rc.MarkDown(err)
	c.nc.Store(nil)
	return err
}

// keepalive is the LeakPerReconnect fault: it lives as long as the instance, not
// as long as its connection.
func (c *conn) keepalive(nc net.Conn) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-c.life.Done():
			return
		case <-t.C:
			_, _ = nc.Write([]byte("PING\n"))
		}
	}
}

// receive reads MSG lines and dispatches each: its answer goes upstream once the
// host acknowledged it.
func (c *conn) receive(ctx context.Context, nc net.Conn, lines *bufio.Reader) error {
	var buf []byte // the ReusePayload fault's one buffer
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			return err
		}
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 4) // MSG <id> <topic> <base64>
		if len(f) != 4 || f[0] != "MSG" {
			continue
		}
		id, topic := f[1], f[2]
		var payload []byte
		if c.fault == ReusePayload {
			if n := base64.StdEncoding.DecodedLen(len(f[3])); cap(buf) < n {
				buf = make([]byte, n)
			}
			n, err := base64.StdEncoding.Decode(buf[:cap(buf)], []byte(f[3]))
			if err != nil {
				continue
			}
			payload = buf[:n]
		} else if payload, err = base64.StdEncoding.DecodeString(f[3]); err != nil {
			continue
		}
		switch c.fault {
		case AckFirst:
			go c.answer(ctx, nc, id, nil)
			c.router.Dispatch(topic, payload, nil)
		case Misroute:
			for _, rt := range c.router.Routes() {
				c.router.Dispatch(rt.Resource, payload, func(err error) { go c.answer(ctx, nc, id, err) })
			}
		default:
			c.router.Dispatch(topic, payload, func(err error) { go c.answer(ctx, nc, id, err) })
		}
	}
}

// answer tells the server whether the host took message id: NACK when it could not
// take it now, ACK otherwise.
func (c *conn) answer(ctx context.Context, nc net.Conn, id string, err error) {
	verb := "ACK "
	if sdk.Retryable(err) {
		verb = "NACK "
	}
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	_ = c.send(ctx, nc, []byte(verb+id+"\n"))
}
