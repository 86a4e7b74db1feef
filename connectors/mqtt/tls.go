package mqtt

import (
	"crypto/tls"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// tlsConfig builds the client TLS configuration from the tls_* options. It reads the
// files now, so a missing or malformed file fails the build naming the option.
func tlsConfig(s *settings, log hclog.Logger) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.tlsServerName}
	if s.tlsCA != "" {
		pool, err := sdk.CertPool("tls_ca_file", s.tlsCA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if s.tlsCert != "" {
		cert, err := sdk.KeyPair("tls_cert_file", s.tlsCert, "tls_key_file", s.tlsKey)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if s.tlsInsecure {
		log.Warn("tls_insecure_skip_verify is set: the broker's certificate is NOT verified; anyone on the path can read and change the traffic", "broker", s.brokerNames())
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}
