package main

import (
	"time"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/hashicorp/go-hclog"
)

// build turns a configuration into a database, the same way for `run` and `check`:
// the plugins in dir serve the connectors (a configuration without links starts
// none). Errors point into the configuration file. Plugins started for a build that
// failed are stopped again.
func build(cfg *config.Config, dir string, log hclog.Logger, drain time.Duration) (*host.DB, error) {
	b := host.NewBuilder(host.WithLogger(log), host.WithDrainTimeout(drain))
	if len(cfg.Instances()) > 0 {
		b.Apply(connect.WithPlugins(dir))
	}
	cfg.Apply(b)
	db, err := b.Build()
	if err != nil {
		return nil, err // Build has stopped the plugins it started
	}
	return db, nil
}
