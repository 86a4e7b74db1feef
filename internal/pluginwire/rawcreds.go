package pluginwire

import (
	"context"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aimdb-dev/aimdb-go/internal/rawio"
)

// rawIOCredentials are gRPC's insecure transport credentials with the connection's
// reads and writes made through rawio: the plugin channel without TLS (a unix socket
// in a private directory) costs the runtime's monitor thread no wake-up per frame.
type rawIOCredentials struct {
	credentials.TransportCredentials
}

// plainCredentials are the plugin channel's credentials without TLS, on both ends.
func plainCredentials() credentials.TransportCredentials {
	return rawIOCredentials{insecure.NewCredentials()}
}

// ClientHandshake returns conn reading and writing directly.
func (c rawIOCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		return nil, nil, err
	}
	return rawio.Wrap(conn), info, nil
}

// ServerHandshake returns conn reading and writing directly.
func (c rawIOCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		return nil, nil, err
	}
	return rawio.Wrap(conn), info, nil
}

// Clone returns a copy.
func (c rawIOCredentials) Clone() credentials.TransportCredentials {
	return rawIOCredentials{c.TransportCredentials.Clone()}
}

// NewServer is a plugin's gRPC server, for go-plugin's ServeConfig.GRPCServer: the
// boundary's limits and windows (ServerOptions) and, when the host did not turn
// AutoMTLS on (go-plugin then hands the plugin no certificate and sets no
// credentials), connections read and written through rawio.
func NewServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(serverOptions(opts, os.Getenv(autoMTLSEnv))...)
}

// serverOptions are go-plugin's options (opts) and the boundary's, with the rawio
// credentials when plainTransport says TLS is off.
func serverOptions(opts []grpc.ServerOption, clientCert string) []grpc.ServerOption {
	plain := plainTransport(opts, clientCert)
	opts = append(opts, ServerOptions()...)
	if plain {
		opts = append(opts, grpc.Creds(plainCredentials()))
	}
	return opts
}

// plainTransport reports whether the plugin's channel runs without TLS: go-plugin
// handed no certificate (clientCert) and set no credentials (it passes options only
// for TLS), so the rawio credentials replace none.
func plainTransport(opts []grpc.ServerOption, clientCert string) bool {
	return clientCert == "" && len(opts) == 0
}

// autoMTLSEnv is where go-plugin hands a plugin the host's certificate when the host
// turned AutoMTLS on.
const autoMTLSEnv = "PLUGIN_CLIENT_CERT"

// HostDialOptions are the host's options for go-plugin's connection to a plugin: the
// boundary's (DialOptions) and, without TLS, the rawio credentials, which replace
// go-plugin's insecure default (options given to go-plugin come after its own).
func HostDialOptions(tls bool) []grpc.DialOption {
	opts := DialOptions()
	if !tls {
		opts = append(opts, grpc.WithTransportCredentials(plainCredentials()))
	}
	return opts
}
