package main

import (
	"time"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/hashicorp/go-hclog"
)

// pluginsFor returns the plugin directory a configuration needs: "" when it declares
// no connector instance, else the --plugins value or the first default that exists.
func pluginsFor(cfg *config.Config, flagValue string) (string, error) {
	if len(cfg.Instances()) == 0 {
		return "", nil
	}
	return findPluginDir(flagValue)
}

// build turns a configuration into a database, the same way for `run` and `check`:
// the plugins in dir serve the connectors (a configuration without links starts
// none). extra options apply after the configuration's. Errors point into the
// configuration file. Plugins started for a build that failed are stopped again.
func build(cfg *config.Config, dir string, log hclog.Logger, drain time.Duration, extra ...host.Option) (*host.DB, error) {
	b := host.NewBuilder(host.WithLogger(log), host.WithDrainTimeout(drain))
	if dir != "" {
		b.Apply(connect.WithPlugins(dir))
	}
	cfg.Apply(b)
	b.Apply(extra...)
	db, err := b.Build()
	if err != nil {
		return nil, err // Build has stopped the plugins it started
	}
	return db, nil
}
