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
	opts = append(opts, ServerOptions()...)
	if os.Getenv(autoMTLSEnv) == "" {
		opts = append(opts, grpc.Creds(rawIOCredentials{insecure.NewCredentials()}))
	}
	return grpc.NewServer(opts...)
}

// autoMTLSEnv is where go-plugin hands a plugin the host's certificate when the host
// turned AutoMTLS on.
const autoMTLSEnv = "PLUGIN_CLIENT_CERT"

// PlainDialOption is the host's transport to a plugin without TLS: it replaces
// go-plugin's insecure default (options given to go-plugin come after its own).
func PlainDialOption() grpc.DialOption {
	return grpc.WithTransportCredentials(rawIOCredentials{insecure.NewCredentials()})
}
