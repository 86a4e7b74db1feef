package benchbridge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/host"
	hostconnect "github.com/aimdb-dev/aimdb-go/host/connect"
)

// AimDBInProcess bridges like AimDB, with the MQTT connector linked into the host
// process instead of running as a plugin: the same configuration, records, links and
// connector code, without the plugin boundary. Bin is a command that serves the
// bridge with ServeInProcess (bench-bridge itself, with -serve).
type AimDBInProcess struct {
	Bin string
}

// Name returns "AimDB in-process".
func (AimDBInProcess) Name() string { return "AimDB in-process" }

// Topic returns bench/in.
func (AimDBInProcess) Topic() string { return InTopic }

// Start writes the configuration and runs Bin -serve on it.
func (a AimDBInProcess) Start(s Setup) (*Proc, error) {
	conf := filepath.Join(s.Dir, "aimdb.hcl")
	if err := os.WriteFile(conf, aimdbConfigFor(s, nil, ""), 0o644); err != nil {
		return nil, fmt.Errorf("aimdb config: %w", err)
	}
	args := []string{"-serve", conf}
	if p := os.Getenv(ProfileEnv); p != "" {
		args = append(args, "-cpuprofile", filepath.Join(p, "inprocess.pprof"))
	}
	return startProc("aimdb-inprocess", s.Dir, filepath.Join(s.Dir, "aimdb.log"), nil, append([]string{a.Bin}, args...)...)
}

// ProfileEnv names a directory: when set, the in-process side writes a CPU profile there.
const ProfileEnv = "BENCH_BRIDGE_PROFILE_DIR"

// ServeInProcess runs the configuration at path with the MQTT connector linked in,
// until ctx ends; cpuprofile, when not empty, receives a CPU profile of the run.
func ServeInProcess(ctx context.Context, path, cpuprofile string) error {
	cfg, diags := config.ParseFile(path)
	if diags.HasErrors() {
		return diags
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b := host.NewBuilder(host.WithLogger(hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr})),
		hostconnect.WithConnector(mqtt.NewBuilder()))
	cfg.Apply(b)
	db, err := b.Build()
	if err != nil {
		return err
	}
	return db.Run(ctx)
}
