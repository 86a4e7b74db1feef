package main

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/pflag"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/aimdb-dev/aimdb-go/host/ops"
)

// httpFlags are --http, --http-token-env and --pprof.
type httpFlags struct {
	addr, tokenEnv string
	pprof          bool
}

// httpOff is the --http value that turns the listener off.
const httpOff = "off"

func addHTTPFlags(fs *pflag.FlagSet) *httpFlags {
	f := &httpFlags{}
	fs.StringVar(&f.addr, "http", "", `operations listener host:port (metrics, probes, dashboard, /ws), overriding the configuration's http block; "off" turns it off (the demo listens on `+ops.DefaultAddr+`)`)
	fs.StringVar(&f.tokenEnv, "http-token-env", "", "environment variable holding the bearer token the listener requires (needed for an address other than loopback)")
	fs.BoolVar(&f.pprof, "pprof", false, "serve Go's profiler at /debug/pprof/ on the operations listener")
	return f
}

// httpPlan is the listener a run starts, resolved from the flags and the configuration.
type httpPlan struct {
	addr, token string
	pprof       bool
}

// resolve picks the listen address and token: the flags win over the configuration's
// http block. It refuses a non-loopback address without a token, pointing at the
// configuration when the address came from there. A nil plan means no listener.
func (f *httpFlags) resolve(cfg *config.Config, getenv func(string) string) (*httpPlan, error) {
	addr, tokenEnv := f.addr, f.tokenEnv
	var where *hcl.Range
	if addr == "" && cfg.HTTP != nil {
		addr, where = cfg.HTTP.Listen, &cfg.HTTP.ListenRange
	}
	if tokenEnv == "" && cfg.HTTP != nil {
		tokenEnv = cfg.HTTP.TokenEnv
	}
	if addr == "" || addr == httpOff {
		if f.pprof {
			return nil, usagef("--pprof needs the operations listener (--http or an http block)")
		}
		return nil, nil
	}
	p := &httpPlan{addr: addr, pprof: f.pprof}
	if tokenEnv != "" {
		if p.token = getenv(tokenEnv); p.token == "" {
			return nil, fmt.Errorf("http: the bearer token's environment variable %s is empty or not set", tokenEnv)
		}
	}
	if err := ops.CheckBind(addr, p.token != ""); err != nil {
		if where != nil {
			return nil, fmt.Errorf("%s:%d:%d: %w", where.Filename, where.Start.Line, where.Start.Column, err)
		}
		return nil, err
	}
	return p, nil
}

// options are the host options the listener needs: the aimdb.status record it shows.
func (p *httpPlan) options() []host.Option {
	if p == nil {
		return nil
	}
	return []host.Option{ops.WithStatus()}
}

// listen opens the listener for db.
func (p *httpPlan) listen(db *host.DB, readOnly bool, log hclog.Logger) (*ops.Server, error) {
	srv, err := ops.Listen(db, ops.Options{Addr: p.addr, Token: p.token, Pprof: p.pprof, Version: version,
		Control: control.Options{ReadOnly: readOnly}, Logger: log.Named("http")})
	if err != nil {
		return nil, fmt.Errorf("http listener %s: %w", p.addr, err)
	}
	return srv, nil
}
