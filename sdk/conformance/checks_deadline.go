package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

const (
	// publishDeadline is the deadline of each publish while the peer reads nothing.
	publishDeadline = time.Second
	// backPressureLimit is how much publish/deadline lets the connector accept while
	// the outside system reads nothing: far more than the buffers between them
	// hold, so a connector that still takes more keeps it in a queue of its own.
	backPressureLimit = 64 << 20
)

// checkPublishDeadline makes the outside system stop reading and publishes the
// largest payloads, each with a short deadline, until the buffers fill and one
// fails: it must fail by its deadline (ResultGrace allowed), with a retryable kind.
// Then the outside system reads again and a publish must arrive, within twice the
// timeout plus 2 s per MiB the buffers held: those arrive first.
func checkPublishDeadline(r *runner) error {
	stall := r.cfg.Peer.(Stall)
	l := r.out(r.resource(0))
	in, err := r.build(r.target, r.spec("publish-deadline", l))
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	ch, stop, err := r.observe(r.resource(0))
	if err != nil {
		return err
	}
	defer stop()
	if err := r.publishSeen(in, l, ch, r.cfg.Timeout); err != nil {
		return fmt.Errorf("before the outside system stopped reading: %w", err)
	}
	ctx, cancel := r.timeout()
	err = stall.StopReading(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("peer: stop reading: %w", err)
	}
	reading := false
	resume := func() error {
		if reading {
			return nil
		}
		reading = true
		ctx, cancel := r.timeout()
		defer cancel()
		if err := stall.ResumeReading(ctx); err != nil {
			return fmt.Errorf("peer: resume reading: %w", err)
		}
		return nil
	}
	defer resume()
	queued, err := r.publishUntilBlocked(in, l)
	if err != nil {
		return err
	}
	if err := resume(); err != nil {
		return err
	}
	if err := r.publishSeen(in, l, ch, r.cfg.Timeout+r.sized(queued)); err != nil {
		return fmt.Errorf("after the outside system read again (%d bytes were queued): %w", queued, err)
	}
	return nil
}

// publishUntilBlocked publishes the largest payloads with publishDeadline each until
// one fails, and judges that failure. It returns how many bytes the connector took
// before.
func (r *runner) publishUntilBlocked(in Instance, l Link) (int, error) {
	p := make([]byte, r.maxPayload())
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	sent := 0
	for sent <= backPressureLimit {
		copy(p, r.payload("q"))
		ctx, cancel := context.WithTimeout(r.ctx, publishDeadline)
		err := in.Publish(ctx, l.ID, p)
		cancel()
		switch {
		case errors.Is(err, errNoResult):
			return sent, fmt.Errorf("with the outside system reading nothing, a publish with a %s deadline did not return within %s after it: Publish must honour its context (a write deadline from ctx)", publishDeadline, ResultGrace)
		case err != nil && !sdk.Retryable(err):
			return sent, fmt.Errorf("with the outside system reading nothing, a publish failed with kind %q (%v); want a retryable kind (timeout)", sdk.KindOf(err), err)
		case err != nil:
			return sent, nil
		}
		sent += len(p)
	}
	return sent, fmt.Errorf("publishes of %d bytes in all kept succeeding while the outside system read nothing: no back-pressure (a connector must not queue values of its own)", sent)
}
