package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/aimdb-dev/aimdb-go/host/ops"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runFlags are the flags of run and demo.
type runFlags struct {
	cfg      *configFlags
	log      *logFlags
	control  string
	drain    time.Duration
	readOnly bool
	dataDir  string
	http     *httpFlags
}

// addRunFlags adds the flags of run to fs; config is --config's default.
func addRunFlags(fs *pflag.FlagSet, config string) *runFlags {
	f := &runFlags{cfg: addConfigFlags(fs, config), log: addLogFlags(fs, "info"), http: addHTTPFlags(fs)}
	fs.StringVar(&f.control, "control", "", "control socket address, unix:///PATH (default "+control.RootSocket+" for root, else $XDG_RUNTIME_DIR/aimdb.sock)")
	fs.DurationVar(&f.drain, "drain-timeout", host.DefaultDrainTimeout, "on shutdown, how long outbound links may take to deliver what is buffered (alias --drain)")
	fs.BoolVar(&f.readOnly, "read-only", false, "refuse record writes through the control socket")
	fs.StringVar(&f.dataDir, "data-dir", "aimdb-data", "directory of the disk outboxes (links with outbox = \"disk\"); created only when one needs it")
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "drain" {
			name = "drain-timeout"
		}
		return pflag.NormalizedName(name)
	})
	return f
}

func (a *app) newRunCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "run",
		Short: "run the hub until SIGINT or SIGTERM",
		Long: `Loads the configuration, starts the plugins its connectors need, links the records
and serves the control socket, and the operations listener (metrics, probes,
dashboard) when --http or the configuration's http block asks for it. SIGINT or SIGTERM shuts down gracefully: outbound links
deliver what is buffered (within --drain-timeout), then the plugins stop. A second
signal exits at once.`,
		Example: `  aimdb run --config aimdb.hcl --plugins ./bin/plugins
  aimdb --config=demo                      # the built-in demo
  aimdb run --control unix:///run/aimdb/aimdb.sock --log-format json
  aimdb run --http 127.0.0.1:9180          # dashboard, /metrics, /healthz, /readyz`,
		Args: positional(0, 0, "no arguments"),
	}
	f := addRunFlags(c.Flags(), "")
	c.RunE = runE(func(c *cobra.Command, _ []string) error { return a.runHub(c.Context(), f) })
	return c
}

func (a *app) newDemoCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "demo",
		Short: "run the built-in demo (same as run --config=demo)",
		Long: `Runs the embedded demo configuration: an MQTT connector with its own broker on
127.0.0.1:18830 and an HTTP connector listening on 127.0.0.1:18080. It needs the
mqtt and http plugins. The dashboard is at http://127.0.0.1:9180/.
'aimdb demo --print' shows the configuration.`,
		Example: `  aimdb demo --plugins ./bin/plugins
  aimdb demo --print > aimdb.hcl`,
		Args: positional(0, 0, "no arguments"),
	}
	f := addRunFlags(c.Flags(), demoName)
	printOnly := c.Flags().Bool("print", false, "print the demo configuration and exit")
	c.RunE = runE(func(c *cobra.Command, _ []string) error {
		if *printOnly {
			_, err := a.stdout.Write(demoConfig)
			return err
		}
		return a.runHub(c.Context(), f)
	})
	return c
}

// controlAddress is the socket a client command connects to: --connect, else
// $AIMDB_CONNECT, else the default address of `run`.
func (a *app) controlAddress(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if env := a.getenv("AIMDB_CONNECT"); env != "" {
		return env, nil
	}
	return control.DefaultAddress()
}

func (a *app) runHub(ctx context.Context, f *runFlags) error {
	log, err := f.log.logger(a.stderr)
	if err != nil {
		return err
	}
	if f.drain <= 0 {
		return usagef("--drain-timeout must be positive")
	}
	cfg, err := f.cfg.load(a.stderr)
	if err != nil {
		return err
	}
	plugins, err := pluginsFor(cfg, f.cfg.plugins)
	if err != nil {
		return err
	}
	web, err := f.http.resolve(cfg, a.getenv)
	if err != nil {
		return err
	}
	addr := f.control
	if addr == "" {
		if addr, err = control.DefaultAddress(); err != nil {
			return err
		}
	}
	ln, err := control.Listen(addr)
	if err != nil {
		return err
	}
	defer ln.Close()

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var webSrv *ops.Server
	running := announce(func() {
		args := []any{"version", version, "records", len(cfg.Records), "connectors", len(cfg.Instances()), "control", addr}
		if webSrv != nil {
			base := "http://" + webSrv.Addr()
			args = append(args, "dashboard", base+"/", "metrics", base+"/metrics", "health", base+"/healthz", "ready", base+"/readyz", "ws", "ws://"+webSrv.Addr()+"/ws?v=3.0")
		}
		log.Info("aimdb running", append(args, "config", cfg.Filename)...)
	})
	extra := append(web.options(), connect.WithDataDir(f.dataDir), host.WithService("aimdb-running", running))
	db, err := build(cfg, plugins, log, f.drain, extra...)
	if err != nil {
		return a.reportConfig(cfg, err)
	}
	if web != nil {
		if webSrv, err = web.listen(db, f.readOnly, log); err != nil {
			db.Close()
			return err
		}
		go func() {
			if err := webSrv.Serve(); err != nil {
				log.Error("http listener failed", "error", err)
			}
		}()
		defer webSrv.Close()
	}
	srv := control.NewServer(control.ForDB(db), control.Options{
		ReadOnly: f.readOnly, ServerVersion: version, Logger: log.Named("control"),
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			stop() // a second signal kills the process
			log.Info("shutting down; send the signal again to exit at once", "drain_timeout", f.drain.String())
		case <-finished:
		}
	}()
	runErr := db.Run(ctx)
	srv.Close()
	if err := <-served; err != nil && !errors.Is(err, control.ErrServerClosed) {
		log.Warn("control socket failed", "error", err)
	}
	if runErr != nil {
		return fmt.Errorf("stopped with errors:\n%w", runErr)
	}
	log.Info("stopped cleanly")
	return nil
}

// announce is the database's last service: Run starts it after every other service,
// the connectors included, has started, so it reports the hub as running then.
type announce func()

// Validate has nothing to check.
func (announce) Validate(*host.DB) []error { return nil }

// Start reports the hub as running.
func (a announce) Start(context.Context, *host.DB) error {
	a()
	return nil
}

// Stop has nothing to stop.
func (announce) Stop(context.Context) error { return nil }

// reportConfig prints configuration errors at their file positions.
func (a *app) reportConfig(cfg *config.Config, err error) error {
	fmt.Fprint(a.stderr, config.Format(cfg.Locate(err)))
	return &reportedError{err}
}
