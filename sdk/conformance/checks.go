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
	{name: "handshake/start", doc: "the plugin completes the go-plugin handshake and describes itself within 5 s", process: true, run: checkStart},
	{name: "handshake/wrong-cookie", doc: "run with another host's magic cookie, it exits non-zero with a message on stderr", shared: true, process: true, run: checkWrongCookie},
	{name: "handshake/version", doc: "a host offering only an unknown protocol version gets an error naming the version", shared: true, process: true, run: checkVersion},
	{name: "describe/well-formed", doc: "scheme, version, known capabilities, documented options with valid scopes, limits", shared: true, run: checkDescribe},
	{name: "config/unknown-option", doc: "an unknown option fails the build with an invalid-config error naming it", shared: true, run: checkUnknownOption},
	{name: "config/bad-url", doc: "a URL with port 99999 fails the build with an invalid-config error naming it", shared: true, run: checkBadURL},
	{name: "config/secrets", doc: "a URL password and secret options never appear in errors or logs", shared: true, run: checkSecrets},
	{name: "lifecycle/build-close", doc: "an instance with a link each way builds and closes within the timeout", shared: true, run: checkBuildClose},
	{name: "lifecycle/close-twice", doc: "a second close returns promptly and the process lives on", shared: true, run: checkCloseTwice},
	{name: "lifecycle/publish-after-close", doc: "publishing on a closed instance fails at once with KindClosed", shared: true, needs: []string{sdk.CapOutbound}, run: checkPublishAfterClose},
	{name: "lifecycle/instances", doc: "three instances run in one process, each publishing to its own destination", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkInstances},
	{name: "publish/single", doc: "one message reaches the outside system unchanged", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishSingle},
	{name: "publish/parallel", doc: "60 messages published at once to three destinations all arrive, each where it belongs", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishParallel},
	{name: "publish/empty", doc: "an empty payload arrives as an empty message", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishEmpty},
	{name: "publish/binary", doc: "every byte value survives", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishBinary},
	{name: "publish/largest", doc: "a payload of the declared max payload arrives whole", shared: true, peer: true, needs: []string{sdk.CapOutbound}, run: checkPublishLargest},
	{name: "publish/too-large", doc: "one byte more fails with KindMessageTooLarge", shared: true, needs: []string{sdk.CapOutbound}, run: checkPublishTooLarge},
	{name: "publish/deadline", doc: "while the outside system reads nothing, publishes wait (back-pressure, at most 64 MiB accepted) but each returns by its context's deadline, with a retryable kind; once it reads again, publishes arrive", shared: true, features: []string{featureStall}, needs: []string{sdk.CapOutbound}, run: checkPublishDeadline},
	{name: "inbound/routes", doc: "each route gets its own messages and no others", shared: true, peer: true, needs: []string{sdk.CapInbound}, run: checkInboundRoutes},
	{name: "inbound/wildcards", doc: "a pattern gets the topics it matches, and a topic it does not match reaches nobody", shared: true, peer: true, needs: []string{sdk.CapInbound, sdk.CapWildcards}, run: checkInboundWildcards},
	{name: "inbound/ack-commit", doc: "a message the host refused (buffer full) is delivered again or refused upstream, never committed", shared: true, peer: true, needs: []string{sdk.CapInbound, sdk.CapAckCommit}, run: checkAckCommit},
	{name: "inbound/payload-kept", doc: "in-process, the payload of a message handed to the router stays as it was until the host's acknowledgement: the connector does not reuse its buffer", shared: true, peer: true, needs: []string{sdk.CapInbound}, run: checkPayloadKept},
	{name: "outage/down", doc: "with the outside system stopped, publishes fail fast with a retryable kind (connection failed, timeout)", shared: true, features: []string{featureOutage}, needs: []string{sdk.CapOutbound}, run: checkOutageDown},
	{name: "outage/health", doc: "with the outside system stopped, health turns unhealthy", shared: true, features: []string{featureOutage}, needs: []string{sdk.CapOutbound, sdk.CapHealth}, run: checkOutageHealth},
	{name: "outage/recover", doc: "with it back, the same instance turns healthy, publishes arrive, and every value that failed during the outage arrives, in order, when sent again; without a restart", shared: true, features: []string{featureOutage}, needs: []string{sdk.CapOutbound}, run: checkOutageRecover},
	{name: "outage/inbound", doc: "after the outside system stopped and started again, inbound messages arrive again: the connector subscribed again", shared: true, features: []string{featureOutage}, needs: []string{sdk.CapInbound}, run: checkOutageInbound},
	{name: "outage/backoff", doc: "while the outside system is down, the connector waits between connection attempts: at most 20 a second on average", shared: true, features: []string{featureOutage, featureConnects}, run: checkOutageBackoff},
	{name: "outage/reconnects", doc: "six more outages leave no more goroutines behind than one does (at most 3 more, for goroutines that come and go) (counted from a SIGQUIT dump)", shared: true, process: true, features: []string{featureOutage}, needs: []string{sdk.CapOutbound}, run: checkOutageReconnects},
	{name: "panic/exit-detected", doc: "a plugin that crashes (as an unrecovered panic does) is seen to exit and fails a publish instead of hanging it", shared: true, process: true, run: checkPanicExit},
	{name: "shutdown/graceful", doc: "Shutdown with a 2 s deadline returns within it", shared: true, process: true, run: checkShutdownGraceful},
	{name: "shutdown/sigterm", doc: "the process exits within 2 s of SIGTERM", shared: true, process: true, run: checkSigterm},
	{name: "shutdown/host-dies", doc: "with an instance open, the process exits within 2 s of its host's death (SIGKILL)", shared: true, process: true, run: checkHostDies},
	{name: "resources/fds", doc: "open files do not grow over repeated build/publish/close cycles", shared: true, process: true, run: checkFDs},
	{name: "resources/goroutines", doc: "goroutines do not grow over repeated cycles (counted from a SIGQUIT dump)", shared: true, process: true, run: checkGoroutines},
	{name: "stdout/silent", doc: "the plugin wrote nothing to stdout during the whole run", shared: true, process: true, run: checkStdout},
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

// payload returns a payload unique within the run and across runs against the same
// outside system, short enough for the kind's max payload (a KNX telegram carries 14
// bytes): the tag, the run's id, a counter.
func (r *runner) payload(tag string) []byte {
	p := fmt.Sprintf("%s%s%d", tag, r.runID, r.seq.Add(1))
	if max := r.maxPayload(); len(p) > max {
		p = p[len(p)-max:]
	}
	return []byte(p)
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
	r.awaitHealthy(in)
	return in, nil
}

// awaitHealthy waits, within the timeout, until a connector that reports health is
// healthy, as the host does before it counts on it: connecting in the background
// after Build is allowed, and a publish before that may fail with a retryable error.
// An instance that never turns healthy is returned as it is, for its check to judge.
func (r *runner) awaitHealthy(in Instance) {
	if !r.kind.Has(sdk.CapHealth) || r.cfg.Peer == nil {
		return
	}
	deadline := time.Now().Add(r.cfg.Timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := r.timeout()
		err := in.Health(ctx)
		cancel()
		if err == nil || sdk.KindOf(err) == sdk.KindClosed {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close closes an instance within the timeout.
func (r *runner) close(in Instance) error {
	ctx, cancel := r.timeout()
	defer cancel()
	start := time.Now()
	if err := in.Close(ctx); err != nil {
		if ctx.Err() != nil || sdk.KindOf(err) == sdk.KindTimeout {
			r.hung.Store(true)
			return fmt.Errorf("close did not return within %s", time.Since(start).Round(time.Millisecond))
		}
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// cleanup closes an instance a check is done with. Once a close has hung, later
// cleanups do not wait, so one hanging plugin does not stretch every check.
func (r *runner) cleanup(in Instance) {
	if !r.hung.Load() {
		_ = r.close(in)
		return
	}
	go func() {
		ctx, cancel := r.timeout()
		defer cancel()
		_ = in.Close(ctx)
	}()
}

// publish publishes within the timeout, longer for a large payload (sized).
func (r *runner) publish(in Instance, link uint32, payload []byte) error {
	ctx, cancel := context.WithTimeout(r.ctx, r.sized(len(payload)))
	defer cancel()
	return in.Publish(ctx, link, payload)
}

// sized is the timeout for moving a payload of n bytes: Timeout, plus 2 s per MiB, so
// a 16 MiB payload on a busy machine under -race is not held to a small message's bound.
func (r *runner) sized(n int) time.Duration {
	return r.cfg.Timeout + time.Duration(n>>20)*2*time.Second
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
	wait := r.sized(len(want))
	deadline := time.After(wait)
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
				return fmt.Errorf("the peer did not see the %d-byte payload on %q within %s; it saw %d other payload(s), first %s", len(want), resource, wait, len(other), show(other[0]))
			}
			return fmt.Errorf("the peer saw nothing on %q within %s", resource, wait)
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
