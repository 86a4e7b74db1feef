package kafka_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/internal/testpki"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// SASL PLAIN and SCRAM with credentials from the URL or from options; a wrong
// password fails as a connection error that does not print the password.
func TestSASL(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plainuser", "plainpw"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "pw256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "pw512"),
		kfake.SeedTopics(1, "t"))
	ok := []struct {
		name string
		url  string
		opts sdk.Config
	}{
		{"plain from url", "kafka://plainuser:plainpw@" + cl.Addr, nil},
		{"scram-256 from options", "kafka://" + cl.Addr, sdk.Config{"sasl_mechanism": "SCRAM-SHA-256", "sasl_user": "scram256", "sasl_password": "pw256"}},
		{"scram-512 from url", "kafka://scram512:pw512@" + cl.Addr, sdk.Config{"sasl_mechanism": "SCRAM-SHA-512"}},
		{"plain password from environment", "kafka://" + cl.Addr, sdk.Config{"sasl_user": "plainuser", "sasl_password_env": "KAFKATEST_SASL_PW"}},
	}
	t.Setenv("KAFKATEST_SASL_PW", "plainpw")
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			inst := start(t, "kafka", tc.url, tc.opts, nil, nil)
			publish(t, inst, "t", nil, tc.name)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		inst := start(t, "kafka", "kafka://"+cl.Addr, sdk.Config{"sasl_mechanism": "SCRAM-SHA-256", "sasl_user": "scram256", "sasl_password": "WRONG-pw", "publish_timeout": "2s"}, nil, nil)
		err := inst.Publish(context.Background(), "t", nil, []byte("x"))
		if k := sdk.KindOf(err); k != sdk.KindConnectionFailed && k != sdk.KindTimeout {
			t.Errorf("publish with a wrong password: %v (kind %v), want connection failed", err, k)
		}
		herr := inst.Health(context.Background())
		if herr == nil {
			t.Error("health is fine with a wrong password")
		}
		for _, e := range []error{err, herr} {
			if e != nil && strings.Contains(e.Error(), "WRONG-pw") {
				t.Errorf("error prints the password: %v", e)
			}
		}
		t.Logf("wrong password: publish: %v; health: %v", err, herr)
	})
}

// TLS with a private CA and a client certificate (mutual TLS); without the CA the
// broker's certificate is refused.
func TestTLS(t *testing.T) {
	pki := testpki.New(t)
	serverPair, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile := pki.CA, pki.ClientCert, pki.ClientKey
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{serverPair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.Pool(t),
		MinVersion:   tls.VersionTLS12,
	}
	cl := kafkatest.StartCluster(t, kfake.TLS(serverTLS), kfake.SeedTopics(1, "t"))

	inst := start(t, "kafka", cl.URL(), sdk.Config{"tls_ca": caFile, "tls_cert": certFile, "tls_key": keyFile}, nil, nil)
	publish(t, inst, "t", nil, "over tls")
	if err := inst.Health(context.Background()); err != nil {
		t.Errorf("health over TLS: %v", err)
	}

	untrusted := start(t, "kafka", cl.URL(), sdk.Config{"tls": "true", "tls_cert": certFile, "tls_key": keyFile, "publish_timeout": "1s"}, nil, nil)
	err = untrusted.Publish(context.Background(), "t", nil, []byte("x"))
	if k := sdk.KindOf(err); k != sdk.KindConnectionFailed && k != sdk.KindTimeout {
		t.Errorf("publish without the CA: %v (kind %v), want connection failed", err, k)
	}
	herr := untrusted.Health(context.Background())
	if sdk.KindOf(herr) != sdk.KindConnectionFailed || !strings.Contains(fmt.Sprint(herr), "certificate") {
		t.Errorf("health without the CA: %v, want connection failed saying the certificate is not trusted", herr)
	}
}
