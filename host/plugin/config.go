package plugin

import (
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"
)

// Config tunes how plugins are started and supervised; the zero value is usable.
type Config struct {
	// Logger receives the manager's messages and every plugin's log lines, tagged with
	// the plugin's file name, at the plugin's level. Default: no logging.
	Logger hclog.Logger
	// StartTimeout bounds a plugin's start-up until its handshake line. Default 10 s.
	StartTimeout time.Duration
	// CallTimeout bounds a control call (describe, build, health). Default 10 s.
	CallTimeout time.Duration
	// Restart is the restart policy of crashed plugins.
	Restart RestartPolicy
	// SocketDir is the private directory (0700) for the plugins' unix sockets; ""
	// uses the temp directory.
	SocketDir string
	// TLS turns on go-plugin's AutoMTLS on the plugin channel (off by default: the
	// channel is a unix socket in the host's private directory).
	TLS bool
	// Procs is GOMAXPROCS of each plugin process. Default 1, unless the host's own
	// environment sets GOMAXPROCS, which plugins then inherit: a plugin's work is
	// mostly waiting on sockets, and with one P it wakes far fewer threads per message
	// (docs/plugin-protocol.md has the figures).
	Procs int
	// Env is added to every plugin's environment ("NAME=value"). Of the host's own
	// environment a plugin sees only PATH, HOME, the locale and a few more harmless
	// variables (internal/pluginwire/client's passedEnv), and KindEnv's.
	Env []string
	// KindEnv names, per connector kind, the environment variables the instances of
	// that kind name in their "_env" options (sdk.Config.EnvNames): a plugin gets the
	// host's values of the variables of the kinds it serves, and no other plugin does.
	KindEnv map[string][]string
}

// RestartPolicy says how crashed plugins come back: the n-th restart in a row waits
// Initial*2^(n-1), at most Max, for ever; more than Limit restarts inside Window is a
// crash loop, reported as such while the restarts go on.
type RestartPolicy struct {
	Initial time.Duration // default 100 ms
	Max     time.Duration // default 1 min
	Limit   int           // default 5
	Window  time.Duration // default 1 min
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	r := &c.Restart
	if r.Initial <= 0 {
		r.Initial = 100 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = time.Minute
	}
	if r.Limit <= 0 {
		r.Limit = 5
	}
	if r.Window <= 0 {
		r.Window = time.Minute
	}
	return c
}

// options are the launch options of the config for a plugin serving kinds. GOMAXPROCS
// is Procs, else the host's own GOMAXPROCS, else 1.
func (c Config) options(kinds []string) client.Options {
	env := append([]string(nil), c.Env...)
	env = append(env, client.LookupEnv(c.envNames(kinds))...)
	switch {
	case c.Procs > 0:
		env = append(env, "GOMAXPROCS="+strconv.Itoa(c.Procs))
	case os.Getenv("GOMAXPROCS") == "": // else the host's passes through
		env = append(env, "GOMAXPROCS=1")
	}
	return client.Options{Logger: c.Logger, StartTimeout: c.StartTimeout, CallTimeout: c.CallTimeout,
		SocketDir: c.SocketDir, TLS: c.TLS, Env: env}
}

// envNames lists the variables KindEnv names for kinds, sorted, once each.
func (c Config) envNames(kinds []string) []string {
	var names []string
	for _, k := range kinds {
		names = append(names, c.KindEnv[k]...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// delay is the wait before the restart that follows n restarts in a row.
func (r RestartPolicy) delay(n int) time.Duration {
	d := r.Initial
	for i := 0; i < n && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}
