package kafka

import (
	"crypto/tls"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// tlsSettings are the TLS options; files are read when the client is made.
type tlsSettings struct {
	enabled    bool
	ca         string
	cert       string
	key        string
	serverName string
	insecure   bool
}

func parseTLS(opts sdk.Config) (tlsSettings, error) {
	s := tlsSettings{
		ca:         opts.String(optTLSCA, ""),
		cert:       opts.String(optTLSCert, ""),
		key:        opts.String(optTLSKey, ""),
		serverName: opts.String(optTLSServerName, ""),
	}
	implied := s.ca != "" || s.cert != "" || s.key != "" || s.serverName != ""
	var err error
	if s.insecure, err = opts.Bool(optTLSInsecure, false); err != nil {
		return s, err
	}
	if s.enabled, err = opts.Bool(optTLS, implied || s.insecure); err != nil {
		return s, err
	}
	if !s.enabled && (implied || s.insecure) {
		return s, sdk.AtOption(optTLS, sdk.Errorf(sdk.KindInvalidConfig, "option %q is false but TLS options are set (%s, %s, %s, %s, %s)", optTLS, optTLSCA, optTLSCert, optTLSKey, optTLSServerName, optTLSInsecure))
	}
	if (s.cert == "") != (s.key == "") {
		return s, sdk.AtOption(optTLSCert, sdk.Errorf(sdk.KindInvalidConfig, "options %q and %q go together: a client certificate needs its key", optTLSCert, optTLSKey))
	}
	return s, nil
}

// config builds the crypto/tls configuration, reading the CA and client certificate files.
func (s tlsSettings) config() (*tls.Config, error) {
	if !s.enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.serverName, InsecureSkipVerify: s.insecure} //nolint:gosec // opt-in, documented as for tests only
	if s.ca != "" {
		pool, err := sdk.CertPool(optTLSCA, s.ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if s.cert != "" {
		pair, err := sdk.KeyPair(optTLSCert, s.cert, optTLSKey, s.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// saslSettings hold the SASL mechanism and credentials. The password is never printed.
type saslSettings struct {
	mechanism string // "" when SASL is off
	user      string
	password  string
}

// parseSASL takes credentials from sasl_user with sasl_password or
// sasl_password_env, or else from the URL's userinfo. A user without a mechanism
// means PLAIN.
func parseSASL(u sdk.URL, opts sdk.Config) (saslSettings, error) {
	s := saslSettings{user: u.User, password: u.Password}
	_, optUser := opts[optSASLUser]
	_, optPass := opts[optSASLPassword]
	envName, optEnv := opts[optSASLPasswordEnv]
	if optPass && optEnv {
		return s, sdk.AtOption(optSASLPassword, sdk.Errorf(sdk.KindInvalidConfig, "options %q and %q exclude each other: set one", optSASLPassword, optSASLPasswordEnv))
	}
	if (optUser || optPass || optEnv) && (u.User != "" || u.Password != "") {
		return s, sdk.Errorf(sdk.KindInvalidConfig, "credentials are given twice: in the connector url and in the sasl_* options; keep one")
	}
	if optUser || optPass || optEnv {
		s.user, s.password = opts[optSASLUser], opts[optSASLPassword]
	}
	if optEnv {
		s.password = os.Getenv(envName)
		if envName == "" || s.password == "" {
			return s, sdk.OptionErrorf(sdk.KindInvalidConfig, optSASLPasswordEnv, "environment variable %q is not set or empty", envName)
		}
	}
	_, hasMech := opts[optSASLMechanism]
	if !hasMech && s.user == "" && s.password == "" {
		return s, nil
	}
	var err error
	if s.mechanism, err = opts.OneOf(optSASLMechanism, "PLAIN", saslValues...); err != nil {
		return s, err
	}
	if s.user == "" || s.password == "" {
		return s, sdk.Errorf(sdk.KindInvalidConfig, "SASL %s needs a user and a password (url userinfo, or %q with %q or %q)", s.mechanism, optSASLUser, optSASLPassword, optSASLPasswordEnv)
	}
	return s, nil
}

func (s saslSettings) mechanismOf() sasl.Mechanism {
	switch s.mechanism {
	case "PLAIN":
		return plain.Auth{User: s.user, Pass: s.password}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.user, Pass: s.password}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.user, Pass: s.password}.AsSha512Mechanism()
	}
	return nil
}

// String describes the settings without the password, for logs.
func (s saslSettings) String() string {
	if s.mechanism == "" {
		return "none"
	}
	return fmt.Sprintf("%s user %q", s.mechanism, s.user)
}
