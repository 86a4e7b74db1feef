package serve

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Connectors runs the builders as a plugin process for an AimDB host and does not return:
// a plugin's main is one line, func main() { serve.Connectors(mqtt.NewBuilder()) }.
// The process serves any number of connector instances of the builders' schemes,
// logs to the host (never to stdout), and exits when the host closes it or is gone.
// Run by hand, without a host, it prints what it is and exits with status 1.
func Connectors(builders ...sdk.ConnectorBuilder) {
	// The logger must exist before plugin.Serve: go-plugin redirects os.Stderr after
	// the handshake, and JSON lines on the original stderr reach the host's log at
	// their own level. Every line passes the process's redactor, which learns each
	// instance's secrets as it is built.
	red := sdk.NewRedactor()
	log := hclog.New(&hclog.LoggerOptions{
		Output:     sdk.RedactWriter(os.Stderr, red),
		JSONFormat: true,
		Level:      hclog.LevelFromString(os.Getenv(pluginwire.LogLevelEnv)),
	})
	if log.GetLevel() == hclog.NoLevel {
		log.SetLevel(hclog.Info)
	}
	if err := checkBuilders(builders); err != nil {
		log.Error("cannot serve", "error", err)
		os.Exit(1)
	}
	srv := newServer(builders)
	srv.log, srv.red = log, red
	go watchParent(os.Getppid(), srv, log)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  pluginwire.Handshake,
		VersionedPlugins: pluginwire.PluginSets(&pluginwire.Connector{Register: srv.register}),
		GRPCServer:       pluginwire.NewServer,
		Logger:           log,
	})
	// plugin.Serve returns when the host stopped the server: close what is left.
	ctx, cancel := context.WithTimeout(context.Background(), pluginwire.OrphanCloseTimeout)
	srv.closeAll(ctx)
	cancel()
	os.Exit(0)
}

// checkBuilders refuses an empty builder list and two builders of one scheme.
func checkBuilders(builders []sdk.ConnectorBuilder) error {
	if len(builders) == 0 {
		return fmt.Errorf("serve.Connectors needs at least one connector builder")
	}
	seen := map[string]bool{}
	for _, b := range builders {
		if b == nil {
			return fmt.Errorf("serve.Connectors: nil connector builder")
		}
		s := b.Scheme()
		if err := sdk.CheckScheme(s); err != nil {
			return fmt.Errorf("serve.Connectors: builder %T: %v", b, err)
		}
		if seen[s] {
			return fmt.Errorf("serve.Connectors: two builders for scheme %q", s)
		}
		seen[s] = true
	}
	return nil
}

// watchParent exits the process soon after its host is gone, even when the host was
// killed with SIGKILL and had no chance to stop it: the parent pid then changes.
func watchParent(ppid int, srv *server, log hclog.Logger) {
	t := time.NewTicker(pluginwire.ParentPollInterval)
	defer t.Stop()
	for range t.C {
		if os.Getppid() == ppid {
			continue
		}
		log.Error("host process is gone; closing instances and exiting", "host_pid", ppid)
		ctx, cancel := context.WithTimeout(context.Background(), pluginwire.OrphanCloseTimeout)
		srv.closeAll(ctx)
		cancel()
		os.Exit(2)
	}
}
