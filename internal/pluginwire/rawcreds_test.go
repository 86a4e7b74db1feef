package pluginwire

import (
	"context"
	"net"
	"runtime"
	"testing"

	"google.golang.org/grpc/credentials/insecure"

	"github.com/aimdb-dev/aimdb-go/internal/rawio"
)

// TestPlainCredentialsUseRawio: the plugin channel's transport without TLS hands gRPC
// connections that read and write through rawio, on both sides, and still says it is
// insecure (no security is claimed that is not there).
func TestPlainCredentialsUseRawio(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	defer c.Close()
	defer s.Close()

	creds := rawIOCredentials{insecure.NewCredentials()}.Clone()
	client, info, err := creds.ClientHandshake(context.Background(), "plugin", c)
	if err != nil {
		t.Fatal(err)
	}
	server, _, err := creds.ServerHandshake(s)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" {
		for side, conn := range map[string]net.Conn{"client": client, "server": server} {
			if _, ok := conn.(*rawio.Conn); !ok {
				t.Errorf("%s connection is %T, want *rawio.Conn", side, conn)
			}
		}
	}
	if got := creds.Info().SecurityProtocol; got != "insecure" {
		t.Errorf("security protocol %q, want insecure", got)
	}
	if info.AuthType() != "insecure" {
		t.Errorf("auth type %q, want insecure", info.AuthType())
	}
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := server.Read(buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v; want ping", buf, err)
	}
}
