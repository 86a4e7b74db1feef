package conformance

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// delivery is one inbound message as the host got it.
type delivery struct {
	link    uint32
	payload []byte
}

// inbox records an instance's inbound messages; refuse, when set, decides the ack.
type inbox struct {
	ch     chan delivery
	mu     sync.Mutex
	all    []delivery
	refuse func(d delivery) error
}

func newInbox() *inbox { return &inbox{ch: make(chan delivery, 4096)} }

func (b *inbox) deliver(link uint32, payload []byte) error {
	d := delivery{link: link, payload: append([]byte(nil), payload...)}
	b.mu.Lock()
	b.all = append(b.all, d)
	refuse := b.refuse
	b.mu.Unlock()
	select {
	case b.ch <- d:
	default:
	}
	if refuse != nil {
		return refuse(d)
	}
	return nil
}

func (b *inbox) snapshot() []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]delivery(nil), b.all...)
}

// injectUntil injects payload on topic until a delivery of it arrives on link, so a
// connector that subscribes in the background is given time; each injection waits
// half a second for the delivery.
func (r *runner) injectUntil(b *inbox, topic string, payload []byte, link uint32) error {
	deadline := time.Now().Add(r.cfg.Timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := r.timeout()
		lastErr = r.cfg.Peer.Inject(ctx, topic, payload)
		cancel()
		wait := time.After(500 * time.Millisecond)
	loop:
		for {
			select {
			case d := <-b.ch:
				if bytes.Equal(d.payload, payload) {
					if d.link != link {
						return fmt.Errorf("a message on %q went to route %d; want route %d", topic, d.link, link)
					}
					return nil
				}
			case <-wait:
				break loop
			}
		}
	}
	if lastErr != nil {
		return fmt.Errorf("no delivery of the message on %q within %s; the peer's last inject failed: %v", topic, r.cfg.Timeout, lastErr)
	}
	return fmt.Errorf("no delivery of the message injected on %q within %s", topic, r.cfg.Timeout)
}

// misrouted lists deliveries of the payloads in want that reached another link.
func misrouted(all []delivery, want map[string]uint32) error {
	for _, d := range all {
		if link, ok := want[string(d.payload)]; ok && link != d.link {
			return fmt.Errorf("route %d got message %s, which belongs to route %d only", d.link, show(d.payload), link)
		}
	}
	return nil
}

// checkInboundRoutes gives an instance two routes and checks each gets its own
// messages and no others.
func checkInboundRoutes(r *runner) error {
	b := newInbox()
	la, lb := r.in(r.resource(0)), r.in(r.resource(1))
	spec := r.spec("inbound-routes", la, lb)
	spec.Deliver = b.deliver
	in, err := r.build(r.target, spec)
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	pa, pb := r.payload("a"), r.payload("b")
	if err := r.injectUntil(b, r.resource(0), pa, la.ID); err != nil {
		return err
	}
	if err := r.injectUntil(b, r.resource(1), pb, lb.ID); err != nil {
		return err
	}
	time.Sleep(r.cfg.Quiet)
	return misrouted(b.snapshot(), map[string]uint32{string(pa): la.ID, string(pb): lb.ID})
}

// checkInboundWildcards routes a pattern and an exact topic: a matching topic reaches
// only the pattern's route, a topic it does not match reaches nobody.
func checkInboundWildcards(r *runner) error {
	res := r.cfg.Peer.Resources()
	if res.Wildcard == "" || res.WildcardMatch == "" || res.WildcardMiss == "" {
		return skipf("the peer names no wildcard pattern with a matching and a missing topic")
	}
	b := newInbox()
	lw, lx := r.in(res.Wildcard), r.in(r.resource(2))
	spec := r.spec("inbound-wildcards", lw, lx)
	spec.Deliver = b.deliver
	in, err := r.build(r.target, spec)
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	pm, pmiss, px := r.payload("w"), r.payload("m"), r.payload("x")
	if err := r.injectUntil(b, res.WildcardMatch, pm, lw.ID); err != nil {
		return fmt.Errorf("pattern %q: %w", res.Wildcard, err)
	}
	ctx, cancel := r.timeout()
	_ = r.cfg.Peer.Inject(ctx, res.WildcardMiss, pmiss) // refusing it is right too
	cancel()
	if err := r.injectUntil(b, r.resource(2), px, lx.ID); err != nil {
		return err
	}
	time.Sleep(r.cfg.Quiet)
	all := b.snapshot()
	for _, d := range all {
		if bytes.Equal(d.payload, pmiss) {
			return fmt.Errorf("a message on %q, which pattern %q does not match, reached route %d", res.WildcardMiss, res.Wildcard, d.link)
		}
	}
	return misrouted(all, map[string]uint32{string(pm): lw.ID, string(px): lx.ID})
}

// checkAckCommit refuses a message's first delivery as a busy host would: a connector
// that commits only after the host's acknowledgement delivers it again, or tells the
// outside system it was not taken.
func checkAckCommit(r *runner) error {
	b := newInbox()
	l := r.in(r.resource(0))
	spec := r.spec("ack-commit", l)
	spec.Deliver = b.deliver
	in, err := r.build(r.target, spec)
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	warm := r.payload("k")
	if err := r.injectUntil(b, r.resource(0), warm, l.ID); err != nil {
		return err
	}
	p := r.payload("r")
	var mu sync.Mutex
	refused := false
	b.mu.Lock()
	b.refuse = func(d delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if bytes.Equal(d.payload, p) && !refused {
			refused = true
			return sdk.Errorf(sdk.KindBufferFull, "conformance: the host is busy, deliver again later")
		}
		return nil
	}
	b.mu.Unlock()
	ctx, cancel := r.timeout()
	injectErr := r.cfg.Peer.Inject(ctx, r.resource(0), p)
	cancel()
	deadline := time.After(r.cfg.Timeout)
	n := 0
	for {
		mu.Lock()
		done := refused
		mu.Unlock()
		if done && injectErr != nil {
			return nil // the outside system was told
		}
		select {
		case d := <-b.ch:
			if bytes.Equal(d.payload, p) {
				n++
				if n >= 2 {
					return nil
				}
			}
		case <-deadline:
			if n == 0 {
				return fmt.Errorf("the message injected on %q never reached the host (inject: %v)", r.resource(0), injectErr)
			}
			return fmt.Errorf("the host refused a message with %q and the connector neither delivered it again within %s nor told the outside system (inject returned nil): it was committed without the host's acknowledgement", sdk.KindBufferFull, r.cfg.Timeout)
		}
	}
}
