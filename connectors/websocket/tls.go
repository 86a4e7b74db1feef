package websocket

import (
	"crypto/tls"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// tlsConfig builds the client TLS configuration from the tls_* options, reading the
// files now, so a missing or malformed file fails naming its option.
func tlsConfig(s *settings, log hclog.Logger) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.tlsServerName}
	if s.tlsCA != "" {
		pool, err := sdk.CertPool(optTLSCA, s.tlsCA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if s.tlsCert != "" {
		cert, err := sdk.KeyPair(optTLSCert, s.tlsCert, optTLSKey, s.tlsKey)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if s.tlsInsecure {
		log.Warn("tls_insecure_skip_verify is set: the server's certificate is NOT verified; anyone on the path can read and change the traffic", "url", s.base)
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}
