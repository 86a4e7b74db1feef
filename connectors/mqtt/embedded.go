package mqtt

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mochipackets "github.com/mochi-mqtt/server/v2/packets"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// embeddedBroker is an MQTT broker running inside the connector's process, so a demo
// needs no outside broker. It accepts every client: it is for loopback use.
type embeddedBroker struct {
	server  *mochi.Server
	addr    string       // the address it listens on, with the real port
	closing *atomic.Bool // set by close: the broker cuts its clients' connections
}

// startEmbeddedBroker starts a broker listening on addr ("127.0.0.1:1883"; port 0
// picks a free port). A port that cannot be bound fails the build.
func startEmbeddedBroker(instance, addr string, log hclog.Logger) (*embeddedBroker, error) {
	closing := new(atomic.Bool)
	server := mochi.New(&mochi.Options{
		Logger: slog.New(quietOnClose{Handler: &slogToHclog{log: log.Named("broker"), min: slog.LevelWarn}, closing: closing}),
	})
	if err := server.AddHook(new(openHook), nil); err != nil {
		return nil, sdk.Errorf(sdk.KindConnectionFailed, "embedded broker: %v", err)
	}
	tcp := listeners.NewTCP(listeners.Config{Type: "tcp", ID: "aimdb-" + instance, Address: addr})
	if err := server.AddListener(tcp); err != nil {
		return nil, sdk.Errorf(sdk.KindConnectionFailed, "embedded broker: listen on %s (option %q): %v", addr, "embedded_broker", err)
	}
	if err := server.Serve(); err != nil {
		_ = server.Close()
		return nil, sdk.Errorf(sdk.KindConnectionFailed, "embedded broker on %s: %v", addr, err)
	}
	real := tcp.Address()
	host, port, _ := net.SplitHostPort(real)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Warn("embedded broker listens beyond loopback and accepts every client without authentication", "address", real)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if strings.Contains(host, ":") {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	log.Info("embedded MQTT broker started", "address", real)
	return &embeddedBroker{server: server, addr: net.JoinHostPort(host, port), closing: closing}, nil
}

func (e *embeddedBroker) close() {
	e.closing.Store(true)
	_ = e.server.Close()
}

// quietOnClose drops what the broker logs, once it is closing, about the client
// connections it cuts itself ("use of closed network connection", a WARN per client):
// on a clean stop that is no news. Every other record passes.
type quietOnClose struct {
	slog.Handler
	closing *atomic.Bool
}

// Handle passes r on unless it reports a connection the closing broker cut.
func (q quietOnClose) Handle(ctx context.Context, r slog.Record) error {
	if q.closing.Load() {
		cut := false
		r.Attrs(func(a slog.Attr) bool {
			err, ok := a.Value.Any().(error)
			cut = ok && errors.Is(err, net.ErrClosed)
			return !cut
		})
		if cut {
			return nil
		}
	}
	return q.Handler.Handle(ctx, r)
}

// WithAttrs keeps the filter on the derived handler.
func (q quietOnClose) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietOnClose{Handler: q.Handler.WithAttrs(attrs), closing: q.closing}
}

// WithGroup keeps the filter on the derived handler.
func (q quietOnClose) WithGroup(name string) slog.Handler {
	return quietOnClose{Handler: q.Handler.WithGroup(name), closing: q.closing}
}

// openHook lets every client connect and use every topic: the embedded broker is a
// zero-setup demo broker, meant for loopback.
type openHook struct{ mochi.HookBase }

// ID names the hook.
func (*openHook) ID() string { return "aimdb-open" }

// Provides says the hook answers authentication and ACL checks.
func (*openHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

// OnConnectAuthenticate allows every client.
func (*openHook) OnConnectAuthenticate(*mochi.Client, mochipackets.Packet) bool { return true }

// OnACLCheck allows every topic.
func (*openHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }
