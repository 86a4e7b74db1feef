package mqtt

import (
	"log/slog"
	"net"
	"strings"

	"github.com/hashicorp/go-hclog"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mochipackets "github.com/mochi-mqtt/server/v2/packets"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// embeddedBroker is an MQTT broker running inside the connector's process, so a demo
// needs no outside broker. It accepts every client: it is for loopback use.
type embeddedBroker struct {
	server *mochi.Server
	addr   string // the address it listens on, with the real port
}

// startEmbeddedBroker starts a broker listening on addr ("127.0.0.1:1883"; port 0
// picks a free port). A port that cannot be bound fails the build.
func startEmbeddedBroker(instance, addr string, log hclog.Logger) (*embeddedBroker, error) {
	server := mochi.New(&mochi.Options{
		Logger: slog.New(&slogToHclog{log: log.Named("broker"), min: slog.LevelWarn}),
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
	return &embeddedBroker{server: server, addr: net.JoinHostPort(host, port)}, nil
}

func (e *embeddedBroker) close() { _ = e.server.Close() }

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
