package modbus

import (
	"context"
	"errors"

	mb "github.com/simonvetter/modbus"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// MaxPayload is the largest payload a link_to takes: the 246 data bytes of one Write
// Multiple Registers request (123 registers).
const MaxPayload = 2 * maxWriteRegisters

// writer writes the values of one link_to.
type writer struct {
	c    *conn
	l    link
	name string // the link's resource as written
}

// PrepareLink parses a link_to's resource and options once and returns its writer.
func (c *conn) PrepareLink(l sdk.LinkSpec) (sdk.LinkPublisher, error) {
	pl, err := parseLink(sdk.Outbound, l.Resource, l.Config, c.s.unit)
	if err != nil {
		return nil, err
	}
	return &writer{c: c, l: pl, name: l.Resource}, nil
}

// PublishBatch writes the values in order, one request each, and stops at the first
// retryable failure: the host sends that value and every later one again.
func (w *writer) PublishBatch(ctx context.Context, payloads [][]byte, errs []error) {
	for i, p := range payloads {
		if errs[i] = w.write(ctx, p); errs[i] != nil && sdk.Retryable(errs[i]) {
			return
		}
	}
}

// Publish writes one value to destination, parsing the link from scratch; links are
// normally prepared (PrepareLink) and written through PublishBatch.
func (c *conn) Publish(ctx context.Context, destination string, cfg sdk.Config, payload []byte) error {
	l, err := parseLink(sdk.Outbound, destination, cfg, c.s.unit)
	if err != nil {
		return err
	}
	return (&writer{c: c, l: l, name: destination}).write(ctx, payload)
}

// write encodes one value and writes it with one request.
func (w *writer) write(ctx context.Context, payload []byte) error {
	if len(payload) > MaxPayload {
		return sdk.Errorf(sdk.KindMessageTooLarge, "modbus %q: %d bytes: the limit is %d", w.name, len(payload), MaxPayload)
	}
	l := w.l
	var req func(*mb.ModbusClient) error
	if l.res.table.bits() {
		bits, err := l.codec.encodeBits(payload)
		if err != nil {
			return w.encodeErr(err)
		}
		if l.single {
			req = func(cl *mb.ModbusClient) error { return cl.WriteCoil(l.res.addr, bits[0]) }
		} else {
			req = func(cl *mb.ModbusClient) error { return cl.WriteCoils(l.res.addr, bits) }
		}
	} else {
		regs, err := l.codec.encodeRegs(payload)
		if err != nil {
			return w.encodeErr(err)
		}
		if l.single {
			req = func(cl *mb.ModbusClient) error { return cl.WriteRegister(l.res.addr, regs[0]) }
		} else {
			req = func(cl *mb.ModbusClient) error { return cl.WriteRegisters(l.res.addr, regs) }
		}
	}
	if err := w.c.do(ctx, l.res.unit, "write "+l.describe(), req); err != nil {
		return err
	}
	w.c.stats.written.Add(1)
	return nil
}

// encodeErr classifies a value that cannot be encoded: too long for its registers,
// or not a value of the link's type. Neither ever works, so the host dead-letters it.
func (w *writer) encodeErr(err error) error {
	kind := sdk.KindRejected
	if errors.Is(err, errTooLarge) {
		kind = sdk.KindMessageTooLarge
	}
	return sdk.Errorf(kind, "modbus %q (type %s): %v", w.name, w.l.codec.typ, err)
}
