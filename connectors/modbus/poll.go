package modbus

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// poller reads one poll group's requests every interval and hands the values that
// changed to the router.
type poller struct {
	c        *conn
	interval time.Duration
	reqs     []*readReq
	lastErr  map[*readReq]string // the last failure of each request, logged once
}

// downCheck is how often a poll group looks whether a lost connection is back, so
// the first poll after a (re)connect comes soon, whatever the poll interval.
const downCheck = 50 * time.Millisecond

// run polls until ctx ends: every interval while connected, and at once when the
// connection comes (back) up.
func (p *poller) run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !p.c.rc.Connected() {
			t.Reset(min(p.interval, downCheck))
			continue
		}
		start := time.Now()
		p.poll(ctx)
		t.Reset(max(p.interval-time.Since(start), 0))
	}
}

// poll reads every request once, then hands the values that changed to the host and
// waits until it took them (or refused them), so polling never outruns the host.
func (p *poller) poll(ctx context.Context) {
	p.c.stats.polls.Add(1)
	type out struct {
		pl    *pollLink
		value []byte
	}
	var outs []out
	for _, r := range p.reqs {
		regs, bits, err := p.read(ctx, r)
		if err != nil {
			if msg := err.Error(); p.lastErr[r] != msg {
				p.c.b.Logger.Warn("modbus read failed", "error", msg)
				p.lastErr[r] = msg
			}
			continue
		}
		delete(p.lastErr, r)
		for _, pl := range r.links {
			off := int(pl.link.res.addr) - int(r.addr)
			var v []byte
			if r.table.bits() {
				v = pl.link.codec.decodeBits(bits[off : off+pl.link.codec.count])
			} else {
				v = pl.link.codec.decodeRegs(regs[off : off+pl.link.codec.count])
			}
			if pl.link.onChange && pl.last != nil && bytes.Equal(v, pl.last) {
				continue
			}
			outs = append(outs, out{pl, v})
		}
	}
	if len(outs) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, o := range outs {
		wg.Add(1)
		p.c.b.Router.Dispatch(o.pl.resource, o.value, func(err error) {
			defer wg.Done()
			switch {
			case err == nil, !sdk.Retryable(err):
				// Taken, or refused for good (dead-lettered by the host): either way
				// this value is done; a value refused for now is read again next poll.
				o.pl.last = o.value
			}
			if err != nil {
				p.c.b.Logger.Debug("value not taken", "resource", o.pl.resource, "error", err)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// read runs one read request.
func (p *poller) read(ctx context.Context, r *readReq) (regs []uint16, bits []bool, err error) {
	what := fmt.Sprintf("read %s/%d:%d (unit %d)", r.table, r.addr, r.count, r.unit)
	err = p.c.do(ctx, r.unit, what, func(cl *mb.ModbusClient) error {
		var err error
		switch r.table {
		case coil:
			bits, err = cl.ReadCoils(r.addr, uint16(r.count))
		case discrete:
			bits, err = cl.ReadDiscreteInputs(r.addr, uint16(r.count))
		case input:
			regs, err = cl.ReadRegisters(r.addr, uint16(r.count), mb.INPUT_REGISTER)
		case holding:
			regs, err = cl.ReadRegisters(r.addr, uint16(r.count), mb.HOLDING_REGISTER)
		}
		return err
	})
	return regs, bits, err
}
