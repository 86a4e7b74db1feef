package httpconn

import (
	"crypto/tls"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// clientTLS builds the TLS configuration of outbound https:// requests from tls_ca,
// tls_cert and tls_key; it returns nil when none is set.
func clientTLS(opts sdk.Config, scheme string) (*tls.Config, error) {
	ca, cert, key := opts[optTLSCA], opts[optTLSCert], opts[optTLSKey]
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	if scheme != "https" {
		return nil, sdk.AtOption(optTLSCA, sdk.Errorf(sdk.KindInvalidConfig, "options %q, %q, %q: set, but url is not https://", optTLSCA, optTLSCert, optTLSKey))
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pool, err := sdk.CertPool(optTLSCA, ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if cert != "" || key != "" {
		pair, err := loadPair(optTLSCert, optTLSKey, cert, key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// listenerTLS builds the TLS configuration of the inbound listener from
// listen_tls_cert and listen_tls_key; it returns nil when neither is set.
func listenerTLS(opts sdk.Config) (*tls.Config, error) {
	cert, key := opts[optListenTLSCert], opts[optListenTLSKey]
	if cert == "" && key == "" {
		return nil, nil
	}
	pair, err := loadPair(optListenTLSCert, optListenTLSKey, cert, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, nil
}

// loadPair loads a certificate and its key; errors name both options.
func loadPair(certOpt, keyOpt, cert, key string) (tls.Certificate, error) {
	if cert == "" || key == "" {
		return tls.Certificate{}, sdk.AtOption(certOpt, sdk.Errorf(sdk.KindInvalidConfig, "options %q and %q go together", certOpt, keyOpt))
	}
	return sdk.KeyPair(certOpt, cert, keyOpt, key)
}
