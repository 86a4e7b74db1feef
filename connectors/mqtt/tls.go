package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// tlsConfig builds the client TLS configuration from the tls_* options. It reads the
// files now, so a missing or malformed file fails the build naming the option.
func tlsConfig(s *settings, log hclog.Logger) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.tlsServerName}
	if s.tlsCA != "" {
		pem, err := os.ReadFile(s.tlsCA)
		if err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidConfig, "option %q: %v", "tls_ca_file", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, sdk.Errorf(sdk.KindInvalidConfig, "option %q: %s holds no PEM certificate", "tls_ca_file", s.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if s.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(s.tlsCert, s.tlsKey)
		if err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidConfig, "options %q/%q: %v", "tls_cert_file", "tls_key_file", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if s.tlsInsecure {
		log.Warn("tls_insecure_skip_verify is set: the broker's certificate is NOT verified; anyone on the path can read and change the traffic", "broker", s.brokerNames())
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}
