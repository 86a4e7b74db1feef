package httpconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// start runs the connector in-process, closing it when the test ends.
func start(t *testing.T, rawURL string, opts sdk.Config, routes []sdk.Route, sink sdk.Sink, host sdk.Host) (*sdk.Instance, *connector) {
	t.Helper()
	inst, err := startErr(rawURL, opts, routes, sink, host)
	if err != nil {
		t.Fatalf("sdk.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = inst.Close(ctx)
	})
	return inst, inst.Connector().(*connector)
}

func startErr(rawURL string, opts sdk.Config, routes []sdk.Route, sink sdk.Sink, host sdk.Host) (*sdk.Instance, error) {
	var u sdk.URL
	if rawURL != "" {
		var err error
		if u, err = sdk.ParseURL(rawURL); err != nil {
			return nil, err
		}
	}
	return sdk.Start(context.Background(), NewBuilder(), sdk.InstanceConfig{
		Name: "hooks", URL: u, Options: opts, Routes: routes, Sink: sink, Host: host,
	})
}

// delivered is one message a recordingSink took.
type delivered struct {
	route   uint32
	topic   string
	payload string
}

// recordingSink records inbound messages and answers them with answer (nil: ack at once).
type recordingSink struct {
	mu     sync.Mutex
	got    []delivered
	answer func(m sdk.Message, ack func(error))
}

func (s *recordingSink) Deliver(m sdk.Message, ack func(error)) {
	s.mu.Lock()
	s.got = append(s.got, delivered{m.RouteID, m.Topic, string(m.Payload)})
	answer := s.answer
	s.mu.Unlock()
	if answer == nil {
		ack(nil)
		return
	}
	answer(m, ack)
}

func (s *recordingSink) messages() []delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivered(nil), s.got...)
}

// fakeHost answers Latest from a function.
type fakeHost struct {
	latest func(resource string) ([]byte, error)
}

func (h fakeHost) Latest(_ context.Context, resource string) ([]byte, error) {
	return h.latest(resource)
}

// certs is a throwaway CA with one server and one client certificate, as PEM files.
type certs struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	pool                                             *x509.CertPool
}

// newCerts writes a CA, a server certificate for 127.0.0.1 and a client certificate
// into a temporary directory.
func newCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aimdb test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	c := certs{pool: x509.NewCertPool()}
	c.pool.AddCert(caCert)
	c.ca = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	c.serverCert, c.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	c.clientCert, c.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return c
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
