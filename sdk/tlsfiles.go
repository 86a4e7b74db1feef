package sdk

import (
	"crypto/tls"
	"crypto/x509"
)

// CertPool reads the PEM CA certificates of the file option names (path), with
// ReadFile's checks and limit, for a connector's TLS configuration.
func CertPool(option, path string) (*x509.CertPool, error) {
	pem, err := ReadFile(option, path, 0)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, OptionErrorf(KindInvalidConfig, option, "%s holds no PEM certificate", path)
	}
	return pool, nil
}

// KeyPair reads a PEM certificate and its private key from the files two options
// name, with ReadFile's checks and limit. Errors name the option concerned and never
// quote the key.
func KeyPair(certOption, certPath, keyOption, keyPath string) (tls.Certificate, error) {
	cert, err := ReadFile(certOption, certPath, 0)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ReadFile(keyOption, keyPath, 0)
	if err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return tls.Certificate{}, OptionErrorf(KindInvalidConfig, certOption, "%s with %q %s: %v", certPath, keyOption, keyPath, err)
	}
	return pair, nil
}
