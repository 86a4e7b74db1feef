package conformance

import (
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// heldPayloads is a host that acknowledges each inbound message only after a while
// (its record is busy) and notes when two messages it holds share memory: the
// connector handed its read buffer to the router and read the next message into it.
type heldPayloads struct {
	*inbox
	hold time.Duration

	mu     sync.Mutex
	held   [][]byte // payloads delivered, not yet acknowledged
	shared error
}

func (h *heldPayloads) deliver(link uint32, payload []byte, ack func(error)) {
	h.mu.Lock()
	for _, q := range h.held {
		if overlap(q, payload) && h.shared == nil {
			h.shared = fmt.Errorf("a message arrived (%s) in the memory of one the host had not acknowledged yet: the connector reused its buffer after handing it to the router; give each payload a slice of its own, or wait for the acknowledgement (Router.Route)", show(payload))
		}
	}
	h.held = append(h.held, payload)
	h.mu.Unlock()
	err := h.inbox.deliver(link, payload)
	time.AfterFunc(h.hold, func() {
		h.mu.Lock()
		for i, q := range h.held {
			if len(q) == len(payload) && unsafe.SliceData(q) == unsafe.SliceData(payload) {
				h.held = append(h.held[:i], h.held[i+1:]...)
				break
			}
		}
		h.mu.Unlock()
		ack(err)
	})
}

func (h *heldPayloads) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.shared
}

// overlap reports whether a and b share a byte of memory. Both are held, so neither
// is freed and their addresses stay put; comparing them reads no payload, so it
// races with nothing the connector does.
func overlap(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0, b0 := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b)) && b0 < a0+uintptr(len(a))
}

// payloadKeptMessages is how many messages checkPayloadKept injects at once.
const payloadKeptMessages = 4

// checkPayloadKept holds inbound messages for the quiet time before acknowledging
// them, injects several at once, and fails when two held payloads share memory.
// Only the in-process target hands the connector's own slices to the checks.
func checkPayloadKept(r *runner) error {
	if !r.inProcess {
		return skipf("the plugin boundary copies each inbound payload as it is handed over; run the kit in-process (Config.Builder) to check that the connector leaves it alone")
	}
	h := &heldPayloads{inbox: newInbox(), hold: r.cfg.Quiet}
	l := r.in(r.resource(0))
	spec := r.spec("payload-kept", l)
	spec.DeliverAsync = h.deliver
	in, err := r.build(r.target, spec)
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	if err := r.injectUntil(h.inbox, r.resource(0), r.payload("h"), l.ID); err != nil {
		return err
	}
	want := map[string]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for range payloadKeptMessages {
		p := r.payload("h")
		want[string(p)] = true
		wg.Go(func() {
			ctx, cancel := r.timeout()
			defer cancel()
			_ = r.cfg.Peer.Inject(ctx, r.resource(0), p)
		})
	}
	deadline := time.After(r.cfg.Timeout)
	for len(want) > 0 && h.err() == nil {
		select {
		case d := <-h.ch:
			delete(want, string(d.payload))
		case <-deadline:
			return fmt.Errorf("%d of the %d messages injected at once did not arrive within %s", len(want), payloadKeptMessages, r.cfg.Timeout)
		}
	}
	return h.err()
}
