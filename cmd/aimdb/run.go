package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/control"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type runFlags struct {
	cfg      configFlags
	log      logFlags
	control  *string
	drain    *time.Duration
	readOnly *bool
}

func addRunFlags(fs *flag.FlagSet) *runFlags {
	return &runFlags{
		cfg:      addConfigFlags(fs),
		log:      addLogFlags(fs),
		control:  fs.String("control", "", "control socket address, unix:///PATH (default $XDG_RUNTIME_DIR/aimdb.sock, else aimdb-UID.sock in the temp directory)"),
		drain:    fs.Duration("drain-timeout", host.DefaultDrainTimeout, "on shutdown, how long outbound links may take to deliver what is buffered"),
		readOnly: fs.Bool("read-only", false, "refuse record writes through the control socket"),
	}
}

func init() {
	var f *runFlags
	register(&command{
		name:    "run",
		summary: "run the hub until SIGINT or SIGTERM",
		help: `Loads the configuration, starts the plugins its connectors need, links the records
and serves the control socket. SIGINT or SIGTERM shuts down gracefully: outbound links
deliver what is buffered (within --drain-timeout), then the plugins stop. A second
signal exits at once.

examples:
  aimdb run --config aimdb.hcl --plugins ./plugins
  aimdb --config=demo                      # the built-in demo
  aimdb run --control unix:///run/aimdb/aimdb.sock --log-format json`,
		flags: func(fs *flag.FlagSet) { f = addRunFlags(fs) },
		run: func(ctx context.Context, a *app, _ *flag.FlagSet, _ []string) error {
			return a.runHub(ctx, f)
		},
	})
	var d *runFlags
	register(&command{
		name:    "demo",
		summary: "run the built-in demo (same as run --config=demo)",
		help: `Runs the embedded demo configuration: an MQTT connector with its own broker on
127.0.0.1:18830 and an HTTP connector listening on 127.0.0.1:18080. It needs the
mqtt and http plugins in --plugins. 'aimdb demo --print' shows the configuration.

examples:
  aimdb demo --plugins ./bin/plugins
  aimdb demo --print > aimdb.hcl`,
		flags: func(fs *flag.FlagSet) {
			d = addRunFlags(fs)
			fs.Lookup("config").DefValue = demoName
			_ = fs.Set("config", demoName)
			fs.Bool("print", false, "print the demo configuration and exit")
		},
		run: func(ctx context.Context, a *app, fs *flag.FlagSet, _ []string) error {
			if fs.Lookup("print").Value.String() == "true" {
				_, err := a.stdout.Write(demoConfig)
				return err
			}
			return a.runHub(ctx, d)
		},
	})
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
	cfg, err := f.cfg.load(a.stderr)
	if err != nil {
		return err
	}
	if *f.drain <= 0 {
		return usagef("--drain-timeout must be positive")
	}
	addr := *f.control
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

	db, err := build(cfg, *f.cfg.plugins, log, *f.drain)
	if err != nil {
		return a.reportConfig(cfg, err)
	}
	srv := control.NewServer(control.ForDB(db), control.Options{
		ReadOnly: *f.readOnly, ServerVersion: version, Logger: log.Named("control"),
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
	log.Info("aimdb running", "version", version, "records", len(cfg.Records),
		"connectors", len(cfg.Instances()), "control", addr, "config", *f.cfg.config)
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

// reportConfig prints configuration errors at their file positions.
func (a *app) reportConfig(cfg *config.Config, err error) error {
	fmt.Fprint(a.stderr, config.Format(cfg.Locate(err)))
	return &reportedError{err}
}
