package pluginwire

import (
	"context"
	"net"
	"runtime"
	"testing"

	"google.golang.org/grpc"
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

	creds := plainCredentials().Clone()
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

// TestRawioOnlyWithoutTLS: the rawio credentials are added only when TLS is off: in
// the plugin when go-plugin handed no certificate and set no credentials of its own
// (it passes options only for TLS), in the host when the plugin channel has no TLS.
func TestRawioOnlyWithoutTLS(t *testing.T) {
	tlsCreds := grpc.Creds(insecure.NewCredentials()) // stands for go-plugin's TLS credentials
	for _, tc := range []struct {
		name  string
		opts  []grpc.ServerOption
		cert  string
		plain bool
	}{
		{"no TLS", nil, "", true},
		{"AutoMTLS: a certificate and TLS credentials", []grpc.ServerOption{tlsCreds}, "cert", false},
		{"a certificate without credentials", nil, "cert", false},
		{"credentials without a certificate", []grpc.ServerOption{tlsCreds}, "", false},
	} {
		if got := plainTransport(tc.opts, tc.cert); got != tc.plain {
			t.Errorf("%s: plain transport %v, want %v", tc.name, got, tc.plain)
		}
		want := len(tc.opts) + len(ServerOptions())
		if tc.plain {
			want++
		}
		if got := len(serverOptions(tc.opts, tc.cert)); got != want {
			t.Errorf("%s: %d server options, want %d", tc.name, got, want)
		}
	}
	if got, want := len(HostDialOptions(true)), len(DialOptions()); got != want {
		t.Errorf("host with TLS: %d dial options, want %d (no rawio credentials)", got, want)
	}
	if got, want := len(HostDialOptions(false)), len(DialOptions())+1; got != want {
		t.Errorf("host without TLS: %d dial options, want %d", got, want)
	}
}
