package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/aimdb-dev/aimdb-go/host"
)

func init() {
	var cf configFlags
	var lf logFlags
	register(&command{
		name:    "check",
		summary: "validate the configuration and plugins without connecting anywhere",
		help: `Parses the configuration, builds the records and links, starts the plugins the
connectors need and asks each to check its URL, options and links. Nothing connects to
an outside system. Every mistake is listed with file:line:col; the exit code is 1 when
there is any.

examples:
  aimdb check --config aimdb.hcl --plugins ./plugins
  aimdb check --config=demo --plugins ./bin/plugins`,
		flags: func(fs *flag.FlagSet) {
			cf = addConfigFlags(fs)
			lf = addLogFlags(fs)
			fs.Lookup("log-level").DefValue = "warn"
			_ = fs.Set("log-level", "warn")
		},
		run: func(ctx context.Context, a *app, _ *flag.FlagSet, _ []string) error {
			log, err := lf.logger(a.stderr)
			if err != nil {
				return err
			}
			cfg, err := cf.load(a.stderr)
			if err != nil {
				return err
			}
			db, err := build(cfg, *cf.plugins, log, host.DefaultDrainTimeout)
			if err != nil {
				return a.reportConfig(cfg, err)
			}
			db.Close() // stops the plugins that validation started
			links := 0
			for _, r := range cfg.Records {
				links += len(r.Links)
			}
			fmt.Fprintf(a.stdout, "%s: ok: %d record(s), %d link(s), %d connector instance(s)\n", cfg.Filename, len(cfg.Records), links, len(cfg.Instances()))
			return nil
		},
	})
}
