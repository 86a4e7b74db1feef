package websocket_test

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/connectors/websocket"
	"github.com/aimdb-dev/aimdb-go/internal/syncbuf"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// received is one inbound value the test sink got.
type received struct {
	Route   uint32
	Topic   string
	Payload string
}

// sink takes every inbound value.
type sink struct{ ch chan received }

func (s *sink) Deliver(m run.Message, ack func(error)) {
	ack(nil)
	s.ch <- received{m.RouteID, m.Topic, string(m.Payload)}
}

func (s *sink) next(t *testing.T, timeout time.Duration) received {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(timeout):
		t.Fatalf("sink: no inbound value within %v", timeout)
		return received{}
	}
}

func (s *sink) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.ch:
		t.Fatalf("sink: unexpected value %+v", m)
	case <-time.After(d):
	}
}

// instance is a connector run in-process with run.Start.
type instance struct {
	*run.Instance
	sink  *sink
	log   *syncbuf.Buffer
	epoch atomic.Uint32 // each publish is a new epoch, as the host's retries are
}

// link is a test's shorthand for a link.
type link struct {
	dir      sdk.Direction
	resource string
	cfg      sdk.Config
}

func to(resource string, cfg sdk.Config) link   { return link{sdk.Outbound, resource, cfg} }
func from(resource string, cfg sdk.Config) link { return link{sdk.Inbound, resource, cfg} }

// start runs an instance with the links and closes it when the test ends.
func start(t *testing.T, url string, opts sdk.Config, links ...link) *instance {
	t.Helper()
	u, err := sdk.ParseConnectorURL(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg := run.Config{Name: "ws", URL: u, Options: opts}
	for i, l := range links {
		id := uint32(i + 1)
		if l.dir == sdk.Inbound {
			cfg.Routes = append(cfg.Routes, sdk.Route{ID: id, Resource: l.resource, Config: l.cfg, Record: l.resource})
		} else {
			cfg.Outbound = append(cfg.Outbound, sdk.LinkSpec{ID: id, Direction: sdk.Outbound, Resource: l.resource, Config: l.cfg, Record: l.resource})
		}
	}
	s := &sink{ch: make(chan received, 1<<16)}
	lb := &syncbuf.Buffer{}
	cfg.Sink = s
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "ws", Output: lb, Level: hclog.Debug})
	inst, err := run.Start(context.Background(), websocket.NewBuilder(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := inst.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("connector log:\n%s", lb.String())
		}
	})
	return &instance{Instance: inst, sink: s, log: lb}
}

// waitHealthy polls Health until it is nil.
func (i *instance) waitHealthy(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := i.Health(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// publish sends values on link id (1-based, as start numbers links).
func (i *instance) publish(t *testing.T, id uint32, values ...string) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	payloads := make([][]byte, len(values))
	for n, v := range values {
		payloads[n] = []byte(v)
	}
	errs := make([]error, len(values))
	i.PublishBatch(ctx, id, i.epoch.Add(1), payloads, errs)
	return errs
}

func mustPublish(t *testing.T, i *instance, id uint32, values ...string) {
	t.Helper()
	for n, err := range i.publish(t, id, values...) {
		if err != nil {
			t.Fatalf("publish %q: %v", values[n], err)
		}
	}
}

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files.
type pki struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aimdb test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	p := pki{CA: write("ca.pem", "CERTIFICATE", caDER)}
	p.ServerCert, p.ServerKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.ClientCert, p.ClientKey = leaf("aimdb-client", 3, x509.ExtKeyUsageClientAuth)
	return p
}
