package mqtt_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/testpki"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// waitUnhealthy waits until Health reports an error containing every want string.
func (i *instance) waitUnhealthy(t *testing.T, timeout time.Duration, want ...string) error {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := i.Health(context.Background())
		if err != nil && !strings.Contains(err.Error(), "not connected yet") {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(err.Error(), w)
			}
			if ok {
				return err
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("health after %v = %v, want an error containing %q", timeout, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAuthFailureNamesBrokerAndHidesPassword(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Users: map[string]string{"aimdb": "s3cret-pw"}})

	bad := start(t, "bad", "mqtt://aimdb:wrong-pw@"+broker.Addr, fastReconnect)
	err := bad.waitUnhealthy(t, 5*time.Second, broker.Addr, `refused the login of user "aimdb"`, "check username and password")
	if sdk.KindOf(err) != sdk.KindConnectionFailed {
		t.Errorf("kind = %v", sdk.KindOf(err))
	}
	perr := bad.Publish(context.Background(), "t", nil, []byte("x"))
	if sdk.KindOf(perr) != sdk.KindConnectionFailed || !strings.Contains(perr.Error(), "refused the login") {
		t.Errorf("publish: %v", perr)
	}
	for _, text := range []string{err.Error(), perr.Error(), bad.log.String()} {
		if strings.Contains(text, "wrong-pw") {
			t.Fatalf("password leaked: %s", text)
		}
	}

	// Credentials in the URL, then in options.
	inURL := start(t, "url", "mqtt://aimdb:s3cret-pw@"+broker.Addr, nil)
	inURL.waitHealthy(t, 5*time.Second)
	inOpts := start(t, "opts", "mqtt://"+broker.Addr, sdk.Config{"username": "aimdb", "password": "s3cret-pw"}, route(1, "auth/in", nil))
	inOpts.waitHealthy(t, 5*time.Second)
	inURL.publish(t, "auth/in", nil, []byte("between authenticated clients"))
	if m := inOpts.sink.next(t, 5*time.Second); m.Payload != "between authenticated clients" {
		t.Fatalf("got %+v", m)
	}
}

func TestTLSWithTestCA(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{TLS: mqtttest.ServerTLS(pki)})
	url := broker.URL(true)

	good := start(t, "good", url, sdk.Config{"tls_ca_file": pki.CA}, route(1, "tls/in", nil))
	good.waitHealthy(t, 5*time.Second)
	checker := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{TLS: clientTLS(t, pki.CA, "", "")})
	checker.Subscribe("tls/out", 1)
	good.publish(t, "tls/out", nil, []byte("encrypted"))
	if m := checker.Next(5 * time.Second); string(m.Payload) != "encrypted" {
		t.Fatalf("got %q", m.Payload)
	}
	checker.Publish("tls/in", 1, false, []byte("back"))
	if m := good.sink.next(t, 5*time.Second); m.Payload != "back" {
		t.Fatalf("got %+v", m)
	}

	// The name to verify can differ from the URL's host.
	named := start(t, "named", url, sdk.Config{"tls_ca_file": pki.CA, "tls_server_name": "localhost"})
	named.waitHealthy(t, 5*time.Second)

	untrusted := start(t, "untrusted", url, sdk.Config{"tls_ca_file": pki.OtherCA, "reconnect_max": "300ms"})
	untrusted.waitUnhealthy(t, 5*time.Second, broker.Addr, "certificate")

	wrongName := start(t, "wrong-name", url, sdk.Config{"tls_ca_file": pki.CA, "tls_server_name": "broker.invalid", "reconnect_max": "300ms"})
	wrongName.waitUnhealthy(t, 5*time.Second, "broker.invalid")

	insecure := start(t, "insecure", url, sdk.Config{"tls_insecure_skip_verify": "true"})
	insecure.waitHealthy(t, 5*time.Second)
	if !strings.Contains(insecure.log.String(), "tls_insecure_skip_verify is set") {
		t.Errorf("no warning for skipped verification:\n%s", insecure.log.String())
	}
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{TLS: mqtttest.ServerTLS(pki), RequireClientCert: true})
	url := broker.URL(true)

	anonymous := start(t, "no-cert", url, sdk.Config{"tls_ca_file": pki.CA, "reconnect_max": "300ms"})
	anonymous.waitUnhealthy(t, 5*time.Second, broker.Addr)

	withCert := start(t, "with-cert", url, sdk.Config{
		"tls_ca_file": pki.CA, "tls_cert_file": pki.ClientCert, "tls_key_file": pki.ClientKey,
	}, route(1, "mtls/in", nil))
	withCert.waitHealthy(t, 5*time.Second)
	checker := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{TLS: clientTLS(t, pki.CA, pki.ClientCert, pki.ClientKey)})
	checker.Publish("mtls/in", 1, false, []byte("mutual"))
	if m := withCert.sink.next(t, 5*time.Second); m.Payload != "mutual" {
		t.Fatalf("got %+v", m)
	}
}

func clientTLS(t *testing.T, ca, cert, key string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != "" {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}
