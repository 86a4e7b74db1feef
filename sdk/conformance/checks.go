package conformance

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// StartBound is how long a plugin may take from exec to a finished handshake.
const StartBound = 5 * time.Second

// ExitBound is how long a plugin may take to exit after SIGTERM, a crash or its
// host's death.
const ExitBound = 2 * time.Second

// checks run in this order; later checks may rely on the shared target that
// handshake/start launched.
var checks = []check{
	{name: "handshake/start", run: checkStart},
	{name: "handshake/wrong-cookie", run: checkWrongCookie},
	{name: "handshake/version", run: checkVersion},
	{name: "describe/well-formed", shared: true, run: checkDescribe},
	{name: "config/unknown-option", shared: true, run: checkUnknownOption},
	{name: "config/bad-url", shared: true, run: checkBadURL},
	{name: "config/secrets", shared: true, run: checkSecrets},
	{name: "lifecycle/build-close", shared: true, run: checkBuildClose},
	{name: "lifecycle/close-twice", shared: true, run: checkCloseTwice},
	{name: "lifecycle/publish-after-close", shared: true, needs: []string{sdk.CapOutbound}, run: checkPublishAfterClose},
	{name: "lifecycle/instances", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkInstances},
	{name: "publish/single", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishSingle},
	{name: "publish/parallel", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishParallel},
	{name: "publish/empty", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishEmpty},
	{name: "publish/binary", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishBinary},
	{name: "publish/largest", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishLargest},
	{name: "publish/too-large", shared: true, needs: []string{sdk.CapOutbound}, run: checkPublishTooLarge},
	{name: "inbound/routes", shared: true, peer: true, needs: []string{sdk.CapInbound}, run: checkInboundRoutes},
	{name: "inbound/wildcards", shared: true, peer: true, needs: []string{sdk.CapInbound, sdk.CapWildcards}, run: checkInboundWildcards},
	{name: "inbound/ack-commit", shared: true, peer: true, needs: []string{sdk.CapInbound, sdk.CapAckCommit}, run: checkAckCommit},
	{name: "outage/down", shared: true, outage: true, needs: []string{sdk.CapOutbound}, run: checkOutageDown},
	{name: "outage/recover", shared: true, outage: true, needs: []string{sdk.CapOutbound}, run: checkOutageRecover},
	{name: "panic/exit-detected", shared: true, run: checkPanicExit},
	{name: "shutdown/graceful", shared: true, run: checkShutdownGraceful},
	{name: "shutdown/sigterm", shared: true, run: checkSigterm},
	{name: "shutdown/host-dies", shared: true, run: checkHostDies},
	{name: "resources/fds", shared: true, run: checkFDs},
	{name: "resources/goroutines", shared: true, run: checkGoroutines},
	{name: "stdout/silent", shared: true, run: checkStdout},
}

// spec returns an instance spec with the configured URL and options.
func (r *runner) spec(name string, links ...Link) InstanceSpec {
	return InstanceSpec{Name: name, Scheme: r.kind.Scheme, URL: r.cfg.URL, Options: r.cfg.Options.Clone(), Links: links}
}

func (r *runner) out(resource string) Link {
	return Link{ID: r.link(), Direction: sdk.Outbound, Resource: resource, Options: r.cfg.LinkOptions.Clone()}
}

func (r *runner) in(resource string) Link {
	return Link{ID: r.link(), Direction: sdk.Inbound, Resource: resource, Options: r.cfg.RouteOptions.Clone()}
}

// resource returns the peer's i-th name, or a made-up one when there is no peer.
func (r *runner) resource(i int) string {
	if i < len(r.names) {
		return r.names[i]
	}
	return fmt.Sprintf("conformance/r%d", i)
}

// build builds an instance on t within the timeout.
func (r *runner) build(t Target, spec InstanceSpec) (Instance, error) {
	ctx, cancel := r.timeout()
	defer cancel()
	in, err := t.Build(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("build instance %q: %w", spec.Name, err)
	}
	return in, nil
}

// close closes an instance within the timeout.
func (r *runner) close(in Instance) error {
	ctx, cancel := r.timeout()
	defer cancel()
	start := time.Now()
	if err := in.Close(ctx); err != nil {
		if ctx.Err() != nil || sdk.KindOf(err) == sdk.KindTimeout {
			r.hung = true
			return fmt.Errorf("close did not return within %s", time.Since(start).Round(time.Millisecond))
		}
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// cleanup closes an instance a check is done with. Once a close has hung, later
// cleanups do not wait, so one hanging plugin does not stretch every check.
func (r *runner) cleanup(in Instance) {
	if !r.hung {
		_ = r.close(in)
		return
	}
	go func() {
		ctx, cancel := r.timeout()
		defer cancel()
		_ = in.Close(ctx)
	}()
}

// publish publishes within the timeout.
func (r *runner) publish(in Instance, link uint32, payload []byte) error {
	ctx, cancel := r.timeout()
	defer cancel()
	return in.Publish(ctx, link, payload)
}

// observe starts observing resource; the observation ends with the returned cancel.
func (r *runner) observe(resource string) (<-chan []byte, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(r.ctx)
	ch, err := r.cfg.Peer.Observe(ctx, resource)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("peer: observe %q: %w", resource, err)
	}
	return ch, cancel, nil
}

// expect waits for want on ch; other payloads are noted and ignored.
func (r *runner) expect(ch <-chan []byte, resource string, want []byte) error {
	deadline := time.After(r.cfg.Timeout)
	var other [][]byte
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				return fmt.Errorf("peer stopped observing %q", resource)
			}
			if bytes.Equal(got, want) {
				return nil
			}
			other = append(other, got)
		case <-deadline:
			if len(other) > 0 {
				return fmt.Errorf("the peer did not see the %d-byte payload on %q within %s; it saw %d other payload(s), first %s", len(want), resource, r.cfg.Timeout, len(other), show(other[0]))
			}
			return fmt.Errorf("the peer saw nothing on %q within %s", resource, r.cfg.Timeout)
		}
	}
}

// show prints a payload briefly.
func show(p []byte) string {
	if len(p) > 32 {
		return fmt.Sprintf("%q... (%d bytes)", p[:32], len(p))
	}
	return fmt.Sprintf("%q", p)
}

// kindIs fails unless err is of one of the kinds.
func kindIs(what string, err error, kinds ...sdk.ErrorKind) error {
	if err == nil {
		return fmt.Errorf("%s succeeded; want an error of kind %s", what, kindList(kinds))
	}
	k := sdk.KindOf(err)
	for _, want := range kinds {
		if k == want {
			return nil
		}
	}
	return fmt.Errorf("%s failed with kind %q (%v); want kind %s", what, k, err, kindList(kinds))
}

func kindList(kinds []sdk.ErrorKind) string {
	s := ""
	for i, k := range kinds {
		if i > 0 {
			s += " or "
		}
		s += fmt.Sprintf("%q", k.String())
	}
	return s
}
