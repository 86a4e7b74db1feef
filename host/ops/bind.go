package ops

import (
	"fmt"
	"net"
)

// CheckBind checks the listen address host:port: it must be an IP address or
// localhost, and any address other than a loopback one needs a token, since every
// endpoint (metrics, the dashboard, record writes over /ws) would be open to the
// network otherwise.
func CheckBind(addr string, hasToken bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("http listen address %q: want host:port, such as 127.0.0.1:9180", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if host != "" && ip == nil {
		return fmt.Errorf("http listen address %q: the host must be an IP address or localhost", addr)
	}
	if ip != nil && ip.IsLoopback() || hasToken {
		return nil
	}
	return fmt.Errorf("http listen address %q is not a loopback address: every endpoint, record writes included, would be open to the network without a bearer token; "+
		"name an environment variable holding one (http { token_env = \"NAME\" } in the configuration, or --http-token-env NAME), or listen on 127.0.0.1", addr)
}
