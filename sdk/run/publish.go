package run

import (
	"context"
	"fmt"
	"sync"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// linkOut is one link_to of an instance: its publisher and its retry state.
type linkOut struct {
	spec sdk.LinkSpec
	pub  sdk.LinkPublisher // nil: published message by message through Connector.Publish

	mu sync.Mutex // one batch of the link at a time, in order
	// After a retryable failure in epoch blockedAt, the rest of that epoch is not
	// attempted (nothing may overtake the failed message); blocked is cleared by the
	// first batch of a newer epoch, which the host sends when it retries.
	blocked   bool
	blockedAt uint32
}

// prepareLinks prepares every link_to of a connector that is a LinkPreparer.
func (i *Instance) prepareLinks(outbound []sdk.LinkSpec) error {
	i.links = make(map[uint32]*linkOut, len(outbound))
	i.dests = map[string]*sync.Mutex{}
	prep, _ := i.conn.(sdk.LinkPreparer)
	for _, l := range outbound {
		lo := &linkOut{spec: l}
		if prep != nil {
			pub, err := prepareLink(prep, l)
			if err != nil {
				return fmt.Errorf("connector %q: link_to %q of record %q: %w", i.name, l.Resource, l.Record, err)
			}
			lo.pub = pub
		}
		if lo.pub == nil {
			if _, ok := i.dests[l.Resource]; !ok {
				i.dests[l.Resource] = &sync.Mutex{}
			}
		}
		i.links[l.ID] = lo
	}
	return nil
}

func prepareLink(p sdk.LinkPreparer, l sdk.LinkSpec) (pub sdk.LinkPublisher, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("PrepareLink panicked: %v", r)
		}
	}()
	return p.PrepareLink(l)
}

// PublishBatch publishes consecutive values of link (a link_to given at Start) and
// sets errs[i] to each one's outcome. epoch is the link's retry epoch: once a message
// fails with a retryable error, every later message of the link in a batch of that or
// an older epoch fails unattempted, with an error of the same kind, until a batch of a
// newer epoch comes. A panic in the connector fails the rest of the batch.
func (i *Instance) PublishBatch(ctx context.Context, link, epoch uint32, payloads [][]byte, errs []error) {
	lo := i.links[link]
	switch {
	case i.closed.Load():
		fill(errs, sdk.Errorf(sdk.KindClosed, "connector %q is closed", i.name))
		return
	case lo == nil:
		fill(errs, sdk.Errorf(sdk.KindInvalidConfig, "connector %q has no link_to with id %d", i.name, link))
		return
	}
	lo.mu.Lock()
	defer lo.mu.Unlock()
	if lo.blocked && epoch <= lo.blockedAt {
		fill(errs, sdk.Errorf(sdk.KindBufferFull, "not attempted: an earlier message of link_to %q failed and will be sent again first", lo.spec.Resource))
		return
	}
	lo.blocked = false
	clear(errs)
	if lo.pub != nil {
		i.publishPrepared(ctx, lo, payloads, errs)
	} else {
		m := i.dests[lo.spec.Resource]
		m.Lock()
		for n, p := range payloads {
			if errs[n] = i.Publish(ctx, lo.spec.Resource, lo.spec.Config, p); errs[n] != nil && sdk.Retryable(errs[n]) {
				break
			}
		}
		m.Unlock()
	}
	i.redactAll(errs)
	for n, err := range errs {
		if err != nil && sdk.Retryable(err) {
			for j := n + 1; j < len(errs); j++ {
				// Even a later message the connector published counts as failed: it
				// is sent again after the failed one, so order holds (at least once).
				errs[j] = &sdk.Error{Kind: sdk.KindOf(err), Err: fmt.Errorf("not confirmed: message %d before it failed and is sent again first", n)}
			}
			lo.blocked, lo.blockedAt = true, epoch
			return
		}
	}
}

func (i *Instance) publishPrepared(ctx context.Context, lo *linkOut, payloads [][]byte, errs []error) {
	defer func() {
		if r := recover(); r != nil {
			fill(errs, fmt.Errorf("connector %q: publish to %q panicked: %v", i.name, lo.spec.Resource, r))
		}
	}()
	lo.pub.PublishBatch(ctx, payloads, errs)
}

// redactAll masks the instance's secrets in every error, once per distinct error
// (a connector often fails a whole batch with one).
func (i *Instance) redactAll(errs []error) {
	var last, masked error
	for n, err := range errs {
		if err == nil {
			continue
		}
		if err != last {
			last, masked = err, i.red.Error(err)
		}
		errs[n] = masked
	}
}

func fill(errs []error, err error) {
	for n := range errs {
		errs[n] = err
	}
}
