package connect

import (
	"context"
	"errors"
	"sync"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// inboundLink delivers one link_from's messages into its record. While the record is
// full (an at-least-once link of it is a whole ring behind) it holds the messages, in
// order, and settles each once the record took it: the connector acknowledges a
// message upstream only then, so the outside system keeps what AimDB could not take
// yet (MQTT in-flight window, Kafka offset, HTTP 503). Payloads the record refuses
// for good (they do not deserialize, they exceed the boundary) are dead-lettered and
// settled with their permanent error, so the connector acknowledges them and they
// cannot block what follows.
type inboundLink struct {
	svc  *Service
	db   *host.DB
	info host.LinkInfo
	inst string
	ctx  context.Context // ends when the service stops
	gate *durableGate    // the record's disk outboxes, or nil: acknowledge once they have the value

	mu      sync.Mutex
	held    []heldMsg // waiting for room, oldest first
	waiting bool      // the waiter goroutine runs
}

// heldMsg is a message waiting for room in its record.
type heldMsg struct {
	payload []byte
	size    int
	meta    *sdk.Metadata
	settle  func(error)
}

// deliver takes one message; done == false means settle runs later.
func (il *inboundLink) deliver(payload []byte, size int, meta *sdk.Metadata, settle func(error)) (err error, done bool) {
	il.mu.Lock()
	defer il.mu.Unlock()
	if len(il.held) == 0 {
		err, full := il.try(payload, size, meta)
		if !full {
			if err == nil && il.gate != nil {
				il.gate.add(il.ctx, settle)
				return nil, false
			}
			return err, true
		}
	}
	il.held = append(il.held, heldMsg{payload: payload, size: size, meta: meta, settle: settle})
	if !il.waiting {
		il.waiting = true
		go il.wait()
	}
	return nil, false
}

// try delivers a message once; full reports that the record refused it for now.
func (il *inboundLink) try(payload []byte, size int, meta *sdk.Metadata) (err error, full bool) {
	if size > len(payload) {
		cause := sdk.Errorf(sdk.KindMessageTooLarge, "inbound message of %d bytes exceeds the plugin boundary's limit of %d bytes", size, pluginwire.MaxPayloadBytes)
		return il.deadLetter(payload, size, cause), false
	}
	err = il.db.DeliverLinkMessage(il.info.ID, payload, meta)
	switch sdk.KindOf(err) {
	case sdk.KindBufferFull:
		return err, true
	case sdk.KindRejected:
		return il.deadLetter(payload, size, err), false
	}
	return err, false
}

// deadLetter writes a refused payload to the link's dead-letter record and returns
// the error the connector gets: the permanent cause, or KindBufferFull when the
// dead-letter record itself is full (the connector then delivers it again later).
func (il *inboundLink) deadLetter(payload []byte, size int, cause error) error {
	ctx, cancel := context.WithCancel(il.ctx)
	cancel() // do not wait: this runs on the stream's receiving goroutine
	err := il.db.DeadLetter(ctx, il.info.ID, host.DeadLetter{Direction: sdk.Inbound, Instance: il.inst, Err: cause, Payload: payload, Size: size})
	if err != nil {
		if errors.Is(err, host.ErrBufferFull) {
			return sdk.Errorf(sdk.KindBufferFull, "link %s -> record %q: refused (%v), and its dead-letter record is full: %w", il.info.URL, il.info.Record, cause, err)
		}
		return sdk.Errorf(sdk.KindClosed, "link %s -> record %q: %w", il.info.URL, il.info.Record, err)
	}
	il.svc.rate.warn(il.info.ID, "dead_letter", "inbound value dead-lettered", "record", il.info.Record, "link", il.info.URL.String(), "error", cause)
	return cause
}

// wait delivers the held messages, oldest first, as the record makes room.
func (il *inboundLink) wait() {
	for {
		room := il.db.LinkRoom(il.info.ID)
		il.mu.Lock()
		if len(il.held) == 0 {
			il.waiting = false
			il.mu.Unlock()
			return
		}
		m := il.held[0]
		err, full := il.try(m.payload, m.size, m.meta)
		if !full {
			il.held[0] = heldMsg{}
			il.held = il.held[1:]
		}
		il.mu.Unlock()
		if !full {
			if err == nil && il.gate != nil {
				il.gate.add(il.ctx, m.settle)
			} else {
				m.settle(err)
			}
			continue
		}
		select {
		case <-room:
		case <-il.ctx.Done():
			il.failHeld(sdk.Errorf(sdk.KindClosed, "link %s -> record %q: shutting down", il.info.URL, il.info.Record))
			return
		}
	}
}

// failHeld settles every held message with err.
func (il *inboundLink) failHeld(err error) {
	il.mu.Lock()
	held := il.held
	il.held, il.waiting = nil, false
	il.mu.Unlock()
	for _, m := range held {
		m.settle(err)
	}
}

// heldCount is how many messages wait for room.
func (il *inboundLink) heldCount() int {
	il.mu.Lock()
	defer il.mu.Unlock()
	return len(il.held)
}
