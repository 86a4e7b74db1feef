package sdk

import "os"

// instanceSecrets lists what an instance must never print: its URL's password (and
// user:password, the form basic auth encodes), the values of the options its kind's
// Describe marks secret, and the values of the environment variables its options
// name ("_env" options), for the instance and each of its links.
func instanceSecrets(b ConnectorBuilder, u URL, opts Config, links []LinkSpec) []string {
	var out []string
	if u.Password != "" {
		out = append(out, u.Password, u.User+":"+u.Password)
	}
	secret := map[string]bool{}
	if d, ok := b.(Describer); ok {
		for _, o := range d.Describe().Options {
			if o.Secret {
				secret[o.Scope+"/"+o.Name] = true
			}
		}
	}
	add := func(scope string, c Config) {
		for k, v := range c {
			if secret[scope+"/"+k] {
				out = append(out, v)
			}
		}
		for _, name := range c.EnvNames() {
			if v := os.Getenv(name); v != "" {
				out = append(out, v)
			}
		}
	}
	add(ScopeConnector, opts)
	for _, l := range links {
		scope := ScopeLinkTo
		if l.Direction == Inbound {
			scope = ScopeLinkFrom
		}
		add(scope, l.Config)
	}
	return out
}
