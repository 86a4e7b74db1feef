package conformance

import (
	"bytes"
	"fmt"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// publishSeen publishes fresh payloads on link until the peer sees one, within d.
func (r *runner) publishSeen(in Instance, l Link, ch <-chan []byte, d time.Duration) error {
	deadline := time.Now().Add(d)
	var lastErr error
	for i := 0; time.Now().Before(deadline); i++ {
		p := r.payload("o")
		lastErr = r.publish(in, l.ID, p)
		wait := time.After(500 * time.Millisecond)
	loop:
		for {
			select {
			case got := <-ch:
				if bytes.Equal(got, p) {
					return nil
				}
			case <-wait:
				break loop
			}
		}
	}
	return fmt.Errorf("no published message reached the peer within %s (last publish: %v)", d, lastErr)
}

// checkOutageDown stops the outside system: publishes fail fast with connection
// failed or timeout. The instance stays for outage/health and outage/recover.
func checkOutageDown(r *runner) error {
	l := r.out(r.resource(0))
	in, err := r.build(r.target, r.spec("outage", l))
	if err != nil {
		return err
	}
	r.down, r.downLink = in, l
	ch, stop, err := r.observe(r.resource(0))
	if err != nil {
		return err
	}
	err = r.publishSeen(in, l, ch, r.cfg.Timeout)
	stop()
	if err != nil {
		return fmt.Errorf("before the outage: %w", err)
	}
	if err := r.stopPeer(); err != nil {
		return err
	}
	r.downReady = true
	r.downSent = nil
	var problems []string
	deadline := time.Now().Add(r.cfg.Timeout)
	// Until the connector notices (and, for a connectionless protocol, now and then
	// after), publishes may still succeed; a publish that fails must fail fast with a
	// retryable kind, so the host keeps the value and sends it again after the outage.
	for time.Now().Before(deadline) && len(r.downSent) < outageValues && len(problems) == 0 {
		p := r.payload("d")
		start := time.Now()
		err := r.publish(in, l.ID, p)
		switch {
		case err == nil:
			time.Sleep(100 * time.Millisecond)
		case time.Since(start) >= r.cfg.Timeout:
			problems = append(problems, fmt.Sprintf("a publish did not return within %s while the outside system was down", r.cfg.Timeout))
		case !sdk.Retryable(err):
			problems = append(problems, fmt.Sprintf("publishing while the outside system is down failed with kind %q (%v); want a retryable kind (connection failed, timeout)", sdk.KindOf(err), err))
		default:
			r.downSent = append(r.downSent, p)
		}
	}
	if len(r.downSent) == 0 && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("publishes kept succeeding for %s while the outside system was down", r.cfg.Timeout))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", joinProblems(problems))
	}
	return nil
}

// checkOutageHealth checks that the instance of outage/down reports the outage.
func checkOutageHealth(r *runner) error {
	if r.down == nil || !r.downReady {
		return skipf("outage/down did not stop the outside system")
	}
	return r.waitHealth(r.down, false)
}

// checkOutageRecover starts the outside system again: the same instance becomes
// healthy and publishes arrive, without a restart of plugin or instance.
func checkOutageRecover(r *runner) error {
	in := r.down
	r.down = nil
	if in == nil || !r.downReady {
		return skipf("outage/down did not stop the outside system")
	}
	defer r.cleanup(in)
	pid := r.target.Pid()
	r.downReady = false
	if err := r.startPeer(); err != nil {
		return err
	}
	if r.kind.Has(sdk.CapHealth) {
		if err := r.waitHealth(in, true); err != nil {
			return err
		}
	}
	ch, stop, err := r.observe(r.resource(0))
	if err != nil {
		return err
	}
	defer stop()
	if err := r.publishSeen(in, r.downLink, ch, 2*r.cfg.Timeout); err != nil {
		return fmt.Errorf("after the outage: %w", err)
	}
	if err := r.resendDown(in, ch); err != nil {
		return err
	}
	if r.target.Pid() != pid {
		return fmt.Errorf("the plugin process changed from %d to %d", pid, r.target.Pid())
	}
	return nil
}

// checkOutageInbound stops and starts the outside system under an instance with a
// route: a message injected afterwards must arrive, so the connector must have
// subscribed again on its new connection.
func checkOutageInbound(r *runner) error {
	b := newInbox()
	l := r.in(r.resource(0))
	spec := r.spec("outage-inbound", l)
	spec.Deliver = b.deliver
	in, err := r.build(r.target, spec)
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	if err := r.injectUntil(b, r.resource(0), r.payload("u"), l.ID); err != nil {
		return fmt.Errorf("before the outage: %w", err)
	}
	if err := r.cycleOutage(in); err != nil {
		return err
	}
	if err := r.injectUntil(b, r.resource(0), r.payload("v"), l.ID); err != nil {
		return fmt.Errorf("after the outside system came back: %w; a connector must subscribe again on every new connection", err)
	}
	return nil
}

// stopPeer stops the outside system; Execute starts it again at the end if no
// check did.
func (r *runner) stopPeer() error {
	ctx, cancel := r.timeout()
	defer cancel()
	r.stopped = true
	if err := r.cfg.Peer.(Outage).Stop(ctx); err != nil {
		return fmt.Errorf("peer: stop: %w", err)
	}
	return nil
}

// startPeer starts the outside system again.
func (r *runner) startPeer() error {
	ctx, cancel := r.timeout()
	defer cancel()
	if err := r.cfg.Peer.(Outage).Start(ctx); err != nil {
		return fmt.Errorf("peer: start: %w", err)
	}
	r.stopped = false
	return nil
}

// cycleOutage stops the outside system, gives in time to notice (until its health
// turns unhealthy, within the timeout, or the quiet time for a connector without
// health; outage/health judges the health), and starts it again, and waits, within
// the timeout, until in reports health again, as the host would before it counts
// on it (outage/recover judges the recovery).
func (r *runner) cycleOutage(in Instance) error {
	if err := r.stopPeer(); err != nil {
		return err
	}
	if r.kind.Has(sdk.CapHealth) {
		_ = r.waitHealth(in, false)
	} else {
		time.Sleep(r.cfg.Quiet)
	}
	if err := r.startPeer(); err != nil {
		return err
	}
	if r.kind.Has(sdk.CapHealth) {
		_ = r.waitHealth(in, true)
	}
	return nil
}

// outageValues is how many values outage/down publishes into the outage.
const outageValues = 5

// resendDown publishes the values that failed during the outage again, in order, as
// the host does (retrying each until it succeeds), and checks that every one of them
// reaches the outside system, in order.
func (r *runner) resendDown(in Instance, ch <-chan []byte) error {
	deadline := time.Now().Add(2 * r.cfg.Timeout)
	for i, p := range r.downSent {
		for {
			err := r.publish(in, r.downLink.ID, p)
			if err == nil {
				break
			}
			if !sdk.Retryable(err) || time.Now().After(deadline) {
				return fmt.Errorf("sending value %d of the outage again: %v", i+1, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	next := 0
	wait := time.After(r.cfg.Timeout)
	for next < len(r.downSent) {
		select {
		case got := <-ch:
			if bytes.Equal(got, r.downSent[next]) {
				next++
			}
		case <-wait:
			return fmt.Errorf("%d of the %d values that failed during the outage arrived after it (in order)", next, len(r.downSent))
		}
	}
	return nil
}

// waitHealth polls the instance's health until it is healthy (or not), within the timeout.
func (r *runner) waitHealth(in Instance, healthy bool) error {
	deadline := time.Now().Add(r.cfg.Timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := r.timeout()
		last = in.Health(ctx)
		cancel()
		if (last == nil) == healthy {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if healthy {
		return fmt.Errorf("health did not turn healthy within %s: %v", r.cfg.Timeout, last)
	}
	return fmt.Errorf("health still said healthy %s after the outside system stopped", r.cfg.Timeout)
}

func joinProblems(p []string) string {
	s := ""
	for i, x := range p {
		if i > 0 {
			s += "; "
		}
		s += x
	}
	return s
}
