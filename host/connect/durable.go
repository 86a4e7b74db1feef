package connect

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// durableGate holds the acknowledgements of a record's inbound values until every disk
// outbox of the record has the value on disk: a connector acknowledges a message
// upstream (MQTT PUBACK, Kafka commit) only then, so a host killed at any moment loses
// nothing it acknowledged. Records without a disk outbox have no gate.
//
// A value's place is counted, not named: when the record took it, the value is among
// the filler's reads so far plus the record's backlog for it (read in that order, the
// sum can only overcount), and it is on disk once the filler stored that many.
type durableGate struct {
	record string
	want   int // disk outboxes of the record
	wake   chan struct{}

	mu      sync.Mutex
	fillers []*filling
	waiting []durableWait // in delivery order
	running bool          // the settling goroutine runs
	closed  error         // set when the service stops: every wait fails with it
}

// filling counts what one outbox filler took from the record and stored on disk.
type filling struct {
	taken   atomic.Uint64 // values read from the record (missed ones included)
	stored  atomic.Uint64 // of those, on disk (or dead-lettered for good)
	backlog func() uint64 // values in the record the filler has not read
	gate    *durableGate
}

// durableWait is one acknowledgement waiting for targets (one per filler; nil until
// every filler is registered).
type durableWait struct {
	targets []uint64
	settle  func(error)
}

// durableGates makes a gate for each record that a disk outbox link reads and a
// link_from writes.
func durableGates(plans []*instancePlan) map[string]*durableGate {
	outboxes, inbound := map[string]int{}, map[string]bool{}
	for _, p := range plans {
		for _, l := range p.links {
			switch {
			case l.Direction == sdk.Inbound:
				inbound[l.Record] = true
			case p.policies[l.ID].outbox == OutboxDisk:
				outboxes[l.Record]++
			}
		}
	}
	gates := map[string]*durableGate{}
	for rec, n := range outboxes {
		if inbound[rec] {
			gates[rec] = newDurableGate(rec, n)
		}
	}
	return gates
}

func newDurableGate(record string, outboxes int) *durableGate {
	return &durableGate{record: record, want: outboxes, wake: make(chan struct{}, 1)}
}

// register adds a filler; backlog reports its reader's backlog in the record.
func (g *durableGate) register(backlog func() uint64) *filling {
	f := &filling{backlog: backlog, gate: g}
	g.mu.Lock()
	g.fillers = append(g.fillers, f)
	g.mu.Unlock()
	g.poke()
	return f
}

// stored records that the filler stored n more values (or gave them up for good).
func (f *filling) store(n uint64) {
	f.stored.Add(n)
	f.gate.poke()
}

// add queues settle until the value the record just took is on disk everywhere.
func (g *durableGate) add(ctx context.Context, settle func(error)) {
	g.mu.Lock()
	if g.closed != nil {
		err := g.closed
		g.mu.Unlock()
		settle(err)
		return
	}
	w := durableWait{settle: settle, targets: g.targets()}
	g.waiting = append(g.waiting, w)
	if !g.running {
		g.running = true
		go g.settle(ctx)
	}
	g.mu.Unlock()
	g.poke()
}

// targets are the filler counts that cover every value the record holds now; nil
// while a filler is missing (its reader holds every value from the start, so the
// targets are taken when it registers). g.mu is held.
func (g *durableGate) targets() []uint64 {
	if len(g.fillers) < g.want {
		return nil
	}
	t := make([]uint64, len(g.fillers))
	for i, f := range g.fillers {
		b := f.backlog()
		t[i] = f.taken.Load() + b
	}
	return t
}

func (g *durableGate) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// settle acknowledges waiting values in order as the fillers store them, until none
// wait; when ctx ends, the waiting ones fail as closed (the outside system sends them
// again).
func (g *durableGate) settle(ctx context.Context) {
	for {
		g.mu.Lock()
		var ready []durableWait
		for len(g.waiting) > 0 {
			w := &g.waiting[0]
			if w.targets == nil {
				if w.targets = g.targets(); w.targets == nil {
					break
				}
			}
			if !g.reached(w.targets) {
				break
			}
			ready = append(ready, *w)
			g.waiting[0] = durableWait{}
			g.waiting = g.waiting[1:]
		}
		idle := len(g.waiting) == 0
		if idle {
			g.running = false
		}
		g.mu.Unlock()
		for _, w := range ready {
			w.settle(nil)
		}
		if idle {
			return
		}
		select {
		case <-g.wake:
		case <-ctx.Done():
			g.close(sdk.Errorf(sdk.KindClosed, "record %q: shutting down before its disk outbox stored the value", g.record))
			return
		}
	}
}

// reached reports whether every filler stored up to its target. g.mu is held.
func (g *durableGate) reached(targets []uint64) bool {
	for i, t := range targets {
		if g.fillers[i].stored.Load() < t {
			return false
		}
	}
	return true
}

// close fails every waiting value with err, and every later one.
func (g *durableGate) close(err error) {
	g.mu.Lock()
	waiting := g.waiting
	g.waiting, g.running = nil, false
	if g.closed == nil {
		g.closed = err
	}
	g.mu.Unlock()
	for _, w := range waiting {
		w.settle(err)
	}
}
