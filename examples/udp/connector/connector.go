package connector

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// conn is one UDP connector instance.
type conn struct {
	out *net.UDPConn   // connected to the target
	in  net.PacketConn // nil without "listen"
	log hclog.Logger
}

// Publish sends one datagram: topic, newline, payload.
func (c *conn) Publish(ctx context.Context, destination string, _ sdk.Config, payload []byte) error {
	if err := checkTopic(destination, false); err != nil {
		return sdk.Wrap(sdk.KindInvalidDestination, err)
	}
	if len(payload) > MaxPayload {
		return sdk.Errorf(sdk.KindMessageTooLarge, "%d bytes to %q: the limit is %d", len(payload), destination, MaxPayload)
	}
	msg := make([]byte, 0, len(destination)+1+len(payload))
	msg = append(append(append(msg, destination...), '\n'), payload...)
	if dl, ok := ctx.Deadline(); ok {
		_ = c.out.SetWriteDeadline(dl)
	}
	if _, err := c.out.Write(msg); err != nil {
		return classify(destination, err)
	}
	return nil
}

// classify maps a socket error to an error kind.
func classify(destination string, err error) error {
	switch {
	case errors.Is(err, net.ErrClosed):
		return sdk.Errorf(sdk.KindClosed, "publish to %q: %w", destination, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return sdk.Errorf(sdk.KindTimeout, "publish to %q: %w", destination, err)
	case errors.Is(err, syscall.EMSGSIZE):
		return sdk.Errorf(sdk.KindMessageTooLarge, "publish to %q: %w", destination, err)
	}
	// ECONNREFUSED: nobody listens at the target (an ICMP port unreachable came back).
	return sdk.Errorf(sdk.KindConnectionFailed, "publish to %q: %w", destination, err)
}

// receive reads datagrams until the instance closes and hands each to the router.
func (c *conn) receive(ctx context.Context, router *sdk.Router) {
	buf := make([]byte, 65536)
	for ctx.Err() == nil {
		n, from, err := c.in.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			c.log.Warn("udp receive failed", "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		topic, payload, ok := bytes.Cut(buf[:n], []byte{'\n'})
		if !ok {
			c.log.Warn("dropping a datagram without a topic line", "from", from.String(), "bytes", n)
			continue
		}
		msg := append([]byte(nil), payload...)
		router.Dispatch(string(topic), msg, func(err error) {
			if err != nil {
				c.log.Debug("inbound datagram not taken", "topic", string(topic), "error", err)
			}
		})
	}
}

// Close closes both sockets; the receiver then returns.
func (c *conn) Close(context.Context) error {
	err := c.out.Close()
	if c.in != nil {
		err = errors.Join(err, c.in.Close())
	}
	return err
}
