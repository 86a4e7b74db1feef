// Command broken is a deliberately broken connector plugin for the conformance kit's
// own tests. It speaks the UDP example's datagram protocol (topic, newline, payload)
// and has three faults the kit must catch, and nothing else wrong:
//   - it prints to stdout when it builds an instance;
//   - it ignores routes: every inbound datagram goes to every route;
//   - Close hangs (after closing its sockets) and ignores its context.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

const maxPayload = 60000

type builder struct{}

func (builder) Scheme() string { return "broken" }

func (builder) Describe() sdk.Description {
	return sdk.Description{
		Version:      "0.0.1",
		Capabilities: []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards},
		Options:      []sdk.OptionDoc{{Name: "listen", Scope: sdk.ScopeConnector, Doc: "local host:port for inbound datagrams"}},
		MaxPayload:   maxPayload,
	}
}

func (builder) Build(_ context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	if err := b.Options.Unknown("listen"); err != nil {
		return nil, err
	}
	addrs, err := b.URL.Addrs(0)
	if err != nil {
		return nil, sdk.Wrap(sdk.KindInvalidConfig, err)
	}
	fmt.Println("broken: building instance", b.Instance) // fault 1: stdout
	out, err := net.Dial("udp", addrs[0])
	if err != nil {
		return nil, sdk.Wrap(sdk.KindConnectionFailed, err)
	}
	c := &conn{out: out}
	if len(b.Routes) > 0 {
		in, err := net.ListenPacket("udp", b.Options.String("listen", ""))
		if err != nil {
			out.Close()
			return nil, sdk.Wrap(sdk.KindConnectionFailed, err)
		}
		c.in = in
		b.Go("receive", func(ctx context.Context) { c.receive(b.Routes, b.Router) })
	}
	return c, nil
}

type conn struct {
	out net.Conn
	in  net.PacketConn
}

func (c *conn) Publish(_ context.Context, dest string, _ sdk.Config, payload []byte) error {
	if len(payload) > maxPayload {
		return sdk.Errorf(sdk.KindMessageTooLarge, "%d bytes", len(payload))
	}
	if _, err := c.out.Write(append(append([]byte(dest), '\n'), payload...)); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return sdk.Wrap(sdk.KindClosed, err)
		}
		return sdk.Wrap(sdk.KindConnectionFailed, err)
	}
	return nil
}

// receive hands every datagram to every route, whatever its topic (fault 2).
func (c *conn) receive(routes []sdk.Route, router *sdk.Router) {
	buf := make([]byte, 65536)
	for {
		n, _, err := c.in.ReadFrom(buf)
		if err != nil {
			return
		}
		_, payload, ok := bytes.Cut(buf[:n], []byte{'\n'})
		if !ok {
			continue
		}
		for _, rt := range routes {
			router.Dispatch(rt.Resource, append([]byte(nil), payload...), nil)
		}
	}
}

// Close releases the sockets, then hangs forever (fault 3).
func (c *conn) Close(context.Context) error {
	c.out.Close()
	if c.in != nil {
		c.in.Close()
	}
	select {}
}

func main() { serve.Connectors(builder{}) }
