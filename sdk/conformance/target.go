package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Target is one running plugin process as the kit drives it: the host side of the
// plugin boundary without supervision, so the kit sees crashes and hangs as they are.
type Target interface {
	// Info is what the plugin said about itself at start.
	Info() PluginInfo
	// Build builds a connector instance in the process.
	Build(ctx context.Context, spec InstanceSpec) (Instance, error)
	// Pid is the plugin's process id.
	Pid() int
	// Exited is closed once the process has exited.
	Exited() <-chan struct{}
	// Stdout returns what the plugin wrote to its standard output after the handshake.
	Stdout() string
	// Stderr returns the plugin's log output so far.
	Stderr() string
	// Shutdown asks the plugin to close every instance within ctx's deadline.
	Shutdown(ctx context.Context) error
	// Kill stops the process at once and releases the connection.
	Kill()
}

// Instance is one connector instance built in a Target.
type Instance interface {
	// Publish sends one payload on outbound link and waits for its result. The
	// connector's Publish gets ctx's deadline; the wait ends ResultGrace after it.
	Publish(ctx context.Context, link uint32, payload []byte) error
	// Health asks whether the instance is healthy.
	Health(ctx context.Context) error
	// Close closes the instance.
	Close(ctx context.Context) error
}

// InstanceSpec declares a connector instance to build.
type InstanceSpec struct {
	Name    string
	Scheme  string
	URL     string
	Options sdk.Config
	Links   []Link
	// Deliver takes an inbound message of a link; its result is the host's
	// acknowledgement. Nil refuses every inbound message with KindNoRoute.
	Deliver func(link uint32, payload []byte) error
	// DeliverAsync, when set, takes inbound messages instead of Deliver and calls ack
	// exactly once, when it likes: that is when the host's acknowledgement reaches
	// the connector. In-process, payload is the very slice the connector handed to
	// its router; through a plugin it is a copy.
	DeliverAsync func(link uint32, payload []byte, ack func(error))
}

// Link is one link of an instance; inbound messages carry the link's ID.
type Link struct {
	ID        uint32
	Direction sdk.Direction
	Resource  string
	Options   sdk.Config
}

// PluginInfo is a plugin's answer to Describe.
type PluginInfo struct {
	ProtocolVersion int
	SDKVersion      string
	Kinds           []Kind
	// MaxMessageBytes and the batch limits are the boundary limits it announced.
	MaxMessageBytes    uint64
	MaxBatchMessages   uint32
	MaxBatchBytes      uint64
	MaxBatchesInFlight uint32
}

// Kind is one connector kind a plugin serves.
type Kind struct {
	Scheme string
	sdk.Description
}

// Kind returns the kind of scheme.
func (i PluginInfo) Kind(scheme string) (Kind, bool) {
	for _, k := range i.Kinds {
		if k.Scheme == scheme {
			return k, true
		}
	}
	return Kind{}, false
}

// Has reports whether the kind declares capability c.
func (k Kind) Has(c string) bool {
	for _, x := range k.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// ResultGrace is how long past a publish's deadline the kit waits for its result: a
// connector's Publish must return by its context's deadline, and the grace covers
// the way back and the scheduling of a loaded machine. A later result counts as
// none.
const ResultGrace = 2 * time.Second

// errNoResult is the cause of awaitResult's timeout when no result came in time.
var errNoResult = errors.New("no publish result")

// awaitResult waits for a publish's result on res: until ctx is cancelled, or
// ResultGrace past ctx's deadline, or the target exits.
func awaitResult(ctx context.Context, res <-chan error, exited <-chan struct{}) error {
	done := ctx.Done()
	var grace <-chan time.Time
	for {
		select {
		case err := <-res:
			return err
		case <-exited:
			return sdk.Errorf(sdk.KindConnectionFailed, "plugin process exited")
		case <-done:
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return sdk.Wrap(sdk.KindTimeout, fmt.Errorf("no publish result: %w", ctx.Err()))
			}
			done = nil
			t := time.NewTimer(ResultGrace)
			defer t.Stop()
			grace = t.C
		case <-grace:
			return sdk.Wrap(sdk.KindTimeout, fmt.Errorf("%w %s after its deadline", errNoResult, ResultGrace))
		}
	}
}
