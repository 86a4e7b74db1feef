package conformance

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// check is one conformance check. run returns nil for a pass, a *skipError to skip,
// and any other error for a failure, naming what went wrong.
type check struct {
	name string
	doc  string // what the check asserts, for the guide and --help
	// needs lists the capabilities the kind must declare.
	needs []string
	// peer: the check needs a Peer; outage: a Peer that implements Outage.
	peer, outage bool
	// shared: the check uses the shared target and is skipped when it did not start.
	shared bool
	run    func(r *runner) error
}

type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

func skipf(format string, args ...any) error { return &skipError{fmt.Sprintf(format, args...)} }

// runner is the state of one run.
type runner struct {
	ctx    context.Context
	cfg    Config
	target Target // shared by most checks; nil when it did not start
	kind   Kind
	names  []string // the peer's resource names
	// down is the instance of outage/down, which outage/recover checks.
	down      Instance
	downLink  Link
	downReady bool
	downSent  [][]byte // values whose publish failed during the outage, in order
	nextLink  uint32
	// hung is set once a close did not return in time.
	hung atomic.Bool
	// runID and seq make payloads unique; see payload.
	runID string
	seq   atomic.Uint64
}

// CheckInfo names a check and says what it asserts.
type CheckInfo struct {
	Name, Doc string
}

// Checks lists every check, in the order they run.
func Checks() []CheckInfo {
	out := make([]CheckInfo, len(checks))
	for i, c := range checks {
		out[i] = CheckInfo{Name: c.name, Doc: c.doc}
	}
	return out
}

// Execute runs every check against cfg.Plugin and returns the report. It never
// panics on a misbehaving plugin: a check that cannot finish fails.
func Execute(ctx context.Context, cfg Config) *Report {
	cfg = cfg.withDefaults()
	r := &runner{ctx: ctx, cfg: cfg, runID: strconv.FormatInt(time.Now().UnixNano()%(36*36*36*36), 36) + "."}
	rep := &Report{Plugin: cfg.Plugin}
	defer func() {
		// outage/recover may not have run: leave the outside system up.
		if r.downReady {
			ctx, cancel := r.timeout()
			_ = r.cfg.Peer.(Outage).Start(ctx)
			cancel()
		}
		if r.target != nil {
			r.target.Kill()
		}
	}()
	if cfg.Peer != nil {
		r.names = cfg.Peer.Resources().Names
	}
	for _, c := range checks {
		start := time.Now()
		res := Result{Name: c.name}
		if why := r.skipReason(c); why != "" {
			res.Status, res.Reason = Skip, why
		} else {
			err := r.runOne(c)
			var se *skipError
			switch {
			case err == nil:
				res.Status = Pass
			case errors.As(err, &se):
				res.Status, res.Reason = Skip, se.reason
			default:
				res.Status, res.Reason = Fail, err.Error()
			}
		}
		res.Duration = time.Since(start)
		if res.Status == Skip {
			res.Duration = 0
		}
		if c.name == "handshake/start" {
			rep.Scheme = r.kind.Scheme
		}
		if res.Reason != "" {
			cfg.Logf("%s %s (%s): %s", res.Status, res.Name, res.Duration.Round(time.Millisecond), res.Reason)
		} else {
			cfg.Logf("%s %s (%s)", res.Status, res.Name, res.Duration.Round(time.Millisecond))
		}
		rep.Results = append(rep.Results, res)
	}
	return rep
}

// runOne runs a check, turning a panic of the kit into a failure.
func (r *runner) runOne(c check) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the check panicked: %v", p)
		}
	}()
	return c.run(r)
}

func (r *runner) skipReason(c check) string {
	if why, ok := r.cfg.Skip[c.name]; ok {
		return "skipped by configuration: " + why
	}
	if len(r.cfg.Only) > 0 && c.name != "handshake/start" { // every other check needs it
		match := false
		for _, p := range r.cfg.Only {
			if strings.HasPrefix(c.name, p) {
				match = true
			}
		}
		if !match {
			return "not selected"
		}
	}
	if c.shared && r.target == nil {
		return "the plugin did not start (see handshake/start)"
	}
	for _, n := range c.needs {
		if !r.kind.Has(n) {
			return fmt.Sprintf("the plugin does not declare capability %q", n)
		}
	}
	if c.peer || c.outage {
		if r.cfg.Peer == nil {
			return "no peer given"
		}
		if len(r.names) < 3 {
			return fmt.Sprintf("the peer names %d resources, the checks need 3", len(r.names))
		}
	}
	if c.outage {
		if _, ok := r.cfg.Peer.(Outage); !ok {
			return "the peer cannot stop and start the outside system"
		}
	}
	return ""
}

// Run runs every check as a subtest of t: a failed check fails its subtest with the
// reason, a skipped one is skipped with the reason. It returns the report.
func Run(t *testing.T, cfg Config) *Report {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	rep := Execute(context.Background(), cfg)
	for _, res := range rep.Results {
		t.Run(res.Name, func(t *testing.T) {
			switch res.Status {
			case Fail:
				t.Error(res.Reason)
			case Skip:
				t.Skip(res.Reason)
			}
		})
	}
	return rep
}

// timeout returns a context bounded by the configured timeout.
func (r *runner) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.ctx, r.cfg.Timeout)
}

// launch starts a fresh plugin process for a check that ends it.
func (r *runner) launch(opts ProcessOptions) (Target, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 2*StartBound+r.cfg.Timeout)
	defer cancel()
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * StartBound
	}
	// As the host does, pass the plugin the variables its options name ("_env").
	var names []string
	for _, c := range []sdk.Config{r.cfg.Options, r.cfg.LinkOptions, r.cfg.RouteOptions} {
		names = append(names, c.EnvNames()...)
	}
	opts.Env = append(append(append([]string(nil), r.cfg.Env...), opts.Env...), client.LookupEnv(names)...)
	return LaunchProcess(ctx, r.cfg.Plugin, opts)
}

// link returns a new link id, unique within the run.
func (r *runner) link() uint32 {
	r.nextLink++
	return r.nextLink
}
