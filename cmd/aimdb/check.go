package main

import (
	"fmt"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/spf13/cobra"
)

func (a *app) newCheckCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "check",
		Short: "validate the configuration and plugins without connecting anywhere",
		Long: `Parses the configuration, builds the records and links, starts the plugins the
connectors need and asks each to check its URL, options and links. Nothing connects to
an outside system. Everything that parsed is checked even when parts did not, so one
run lists every mistake it can find, sorted by file:line:col, each at the option,
link or block it is about: syntax and schema errors, options no connector documents
(with the closest one it does), bad URLs, and what each plugin's own check finds.
The exit code is 1 when there is any mistake.`,
		Example: `  aimdb check --config aimdb.hcl --plugins ./bin/plugins
  aimdb check --config=demo`,
		Args: positional(0, 0, "no arguments"),
	}
	cf := addConfigFlags(c.Flags(), "")
	lf := addLogFlags(c.Flags(), "warn")
	c.RunE = runE(func(*cobra.Command, []string) error {
		log, err := lf.logger(a.stderr)
		if err != nil {
			return err
		}
		cfg, diags, err := cf.parse()
		if err != nil {
			return err
		}
		plugins, err := pluginsFor(cfg, cf.plugins)
		if err != nil {
			fmt.Fprint(a.stderr, config.Format(diags))
			return err
		}
		db, err := build(cfg, plugins, log, host.DefaultDrainTimeout)
		if err != nil {
			diags = append(diags, cfg.Locate(err)...)
		} else {
			db.Close() // stops the plugins that validation started
		}
		fmt.Fprint(a.stderr, config.Format(diags)) // every mistake, or warnings
		if diags.HasErrors() {
			return &reportedError{fmt.Errorf("configuration has errors")}
		}
		links := 0
		for _, r := range cfg.Records {
			links += len(r.Links)
		}
		fmt.Fprintf(a.stdout, "%s: ok: %d record(s), %d link(s), %d connector instance(s)\n", cfg.Filename, len(cfg.Records), links, len(cfg.Instances()))
		return nil
	})
	return c
}
