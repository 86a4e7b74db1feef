package conformance

import (
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Config says which plugin to check and how to reach its outside system.
type Config struct {
	// Plugin is the plugin executable.
	Plugin string
	// Builder, when set instead of Plugin, runs the checks in-process: instances are
	// run by sdk/run in this process, as an in-process host runs them, and inbound
	// payloads reach the checks as the connector handed them over. Run such a test
	// with -race, so the race detector watches the connector too. Checks that need a
	// plugin process (handshake, shutdown, crash, leak and stdout checks) are skipped.
	Builder sdk.ConnectorBuilder
	// Scheme selects the connector kind when the plugin serves several; default the first.
	Scheme string
	// URL is the connector URL of the instances the checks build.
	URL string
	// Options are the connector options of those instances.
	Options sdk.Config
	// LinkOptions are the options of every link_to link; RouteOptions of every link_from link.
	LinkOptions, RouteOptions sdk.Config
	// Env is added to the plugin's environment ("NAME=value"). As under the host, the
	// plugin sees only a few harmless variables of the test's own environment (PATH,
	// HOME, the locale, ...) and those its options name in "_env" options.
	Env []string
	// Peer observes and injects messages; nil skips every check that needs one.
	Peer Peer
	// Resources names what the checks that need no Peer link to when there is none
	// (a Peer names its own): the destinations and topics the kind accepts, by
	// scheme. Nil, or empty Names, uses conformance/a, conformance/b and
	// conformance/c.
	Resources func(scheme string) Resources
	// Skip names checks not to run, with the reason, which the report shows.
	Skip map[string]string
	// Only, when not empty, runs just the checks whose names start with one of these
	// prefixes, and handshake/start, which starts the process the others use.
	Only []string
	// Timeout bounds each wait for a message, a result or a state change, plus 2 s per
	// MiB of the payload when one is moved. Default 10 s. A deadline of the
	// connector's own in Options (a call or publish timeout) shorter than that for the
	// largest payload makes that publish fail on a busy machine at the connector's
	// bound: give it at least Timeout plus 2 s per MiB of the max payload.
	Timeout time.Duration
	// Quiet is how long a check waits to be sure nothing more arrives. Default 300 ms.
	Quiet time.Duration
	// Cycles is how many build/close cycles the resource check runs. Default 20.
	Cycles int
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Quiet <= 0 {
		c.Quiet = 300 * time.Millisecond
	}
	if c.Cycles <= 0 {
		c.Cycles = 20
	}
	if c.Options == nil {
		c.Options = sdk.Config{}
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}
