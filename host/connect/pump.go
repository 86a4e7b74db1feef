package connect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Pump window: how far a link reads ahead of what its connector confirmed.
const (
	maxUnconfirmedValues = pluginwire.MaxBatchesInFlight * pluginwire.MaxBatchMessages
	maxUnconfirmedBytes  = pluginwire.MaxBatchesInFlight * pluginwire.MaxBatchBytes
)

// LinkState is an outbound or inbound link's state.
type LinkState string

// Link states.
const (
	StateOK       LinkState = "ok"       // delivering, or idle
	StateRetrying LinkState = "retrying" // its oldest value failed and is retried with backoff
	StateBlocked  LinkState = "blocked"  // its record is full behind it: producers are refused
	StateFailing  LinkState = "failing"  // values fail for good and are dead-lettered
)

// item is one value a pump read and has not released.
type item struct {
	payload   []byte
	attempts  int           // sends so far
	firstFail time.Time     // when it first failed (retry_for)
	done      bool          // confirmed, or dead-lettered
	dlPending bool          // waiting for its dead letter to be written
	readAt    time.Duration // when the pump read it (monotime), for the latency histogram
}

// flight is one batch in flight.
type flight struct {
	epoch uint32
	items []*item
}

// source is where a pump reads its link's values: the record (a host.LinkReader) or
// a disk outbox filled from it. A pump reads without a goroutine of its own: it pulls
// what is ready when its transport asks for a batch, and arms notify when nothing is.
type source interface {
	// tryNext returns the next value without waiting: host.ErrEmpty when none is
	// ready, host.ErrClosed once the source is drained for good, an
	// *host.EncodeError for a value the host already dead-lettered, a *host.LagError
	// for values a best-effort link lost.
	tryNext() ([]byte, error)
	// notify arranges for wake to be called once when a value may be ready or the
	// source closes, and reports true; false (arranging nothing) when tryNext has
	// something to return now. wake must not block.
	notify(wake func()) bool
	// release releases the n oldest values read and not released.
	release(n int)
	// backlog is how many values wait in the source beyond what was read.
	backlog() uint64
	close()
}

// transport sends a pump's batches: a plugin's data stream, or an in-process worker.
type transport interface {
	// ready says the pump has a batch to cut; an error means it cannot be sent now
	// (a plugin restarting) and is retryable.
	ready(p *pump) error
	// instanceID names the instance in batches.
	instanceID() uint64
}

// pump moves one link_to's values to its connector: when its transport asks for a
// batch (Cut) it pulls what its source has ready, within a window, and cuts the
// oldest values not in flight; it retries from the first failed value in order with
// backoff, dead-letters values that fail for good, and releases values to the source
// in the order it read them.
type pump struct {
	svc  *Service
	db   *host.DB
	info host.LinkInfo
	inst string
	pol  linkPolicy
	src  source
	tr   transport
	// newestWins: the record keeps only its newest value (single_latest, mailbox) and
	// the link reads it directly, so a value read supersedes the older ones the pump
	// holds and has not sent; they are counted as dropped.
	newestWins bool

	dlWake chan struct{} // wakes the dead-letter goroutine
	idle   chan struct{} // signalled whenever the pump may have become idle

	mu          sync.Mutex
	items       []*item // read, not released, in order
	sendFrom    int     // items[sendFrom:] are not in flight
	inflight    []*flight
	bytes       int // payload bytes of items
	epoch       uint32
	attempt     int       // consecutive retryable failures
	retryAt     time.Time // no batch before this
	retryTimer  *time.Timer
	exhausted   bool // the source is drained for good
	armed       bool // the source will wake the pump
	lastErr     error
	lastErrAt   time.Time
	lastOK      time.Time
	failingTill time.Time   // permanent failures keep the link failing until then (or a success)
	dls         []*dlJob    // dead letters to write, in order
	lat         latency     // publish latency of confirmed values
	failed      failedKinds // failed attempts by error kind

	logMu     sync.Mutex
	loggedAt  LinkState // the state last logged
	loggedSet bool
}

// dlJob is a value to dead-letter.
type dlJob struct {
	it  *item
	err error
}

func newPump(svc *Service, db *host.DB, info host.LinkInfo, inst string, pol linkPolicy, src source, tr transport) *pump {
	return &pump{svc: svc, db: db, info: info, inst: inst, pol: pol, src: src, tr: tr,
		dlWake: make(chan struct{}, 1), idle: make(chan struct{}, 1)}
}

// run writes the pump's dead letters until ctx ends; the first kick starts the flow.
func (p *pump) run(ctx context.Context) {
	p.kick()
	p.deadLetters(ctx)
}

// pull moves what the source has ready into items, within the window, and arms the
// source's notification when it has nothing. p.mu is held.
func (p *pump) pull() {
	p.armed = false
	now := monotime() // one clock read for the values taken together
	for !p.exhausted && len(p.items) < maxUnconfirmedValues && p.bytes < maxUnconfirmedBytes {
		v, err := p.src.tryNext()
		var enc *host.EncodeError
		var lag *host.LagError
		switch {
		case err == nil:
			if p.newestWins {
				p.supersede()
			}
			p.items = append(p.items, &item{payload: v, readAt: now})
			p.bytes += len(v)
		case errors.As(err, &enc):
			p.items = append(p.items, &item{done: true}) // dead-lettered by the host; released in its turn
		case errors.As(err, &lag):
			// counted as dropped by the host
		case errors.Is(err, host.ErrClosed):
			p.exhausted = true
			p.signalIdle()
		case errors.Is(err, host.ErrEmpty):
			if p.src.notify(p.kick) {
				p.armed = true
				return
			}
		default:
			p.svc.log.Error("reading a link's values failed", "record", p.info.Record, "link", p.info.URL.String(), "error", err)
			return
		}
	}
}

// supersede drops the values the pump holds and has not sent (none in flight, none
// confirmed), counted and logged as dropped: a newer value replaces them. p.mu is held.
func (p *pump) supersede() {
	n := 0
	for _, it := range p.items[p.sendFrom:] {
		if !it.done && !it.dlPending {
			it.done = true
			n++
		}
	}
	if n > 0 {
		p.db.CountLink(p.info.ID, host.LinkDropped, uint64(n))
		p.svc.rate.warn(p.info.ID, "dropped", "values replaced by a newer one before they were sent (newest wins)",
			"record", p.info.Record, "link", p.info.URL.String(), "dropped", n)
	}
}

// kick tells the transport the pump may have a batch to cut, unless a retry waits.
func (p *pump) kick() {
	p.mu.Lock()
	waiting := time.Now().Before(p.retryAt)
	p.mu.Unlock()
	if waiting {
		return
	}
	if err := p.tr.ready(p); err != nil {
		p.mu.Lock()
		p.failHead(err)
		p.mu.Unlock()
		p.noteState()
	}
}

// Cut hands the transport the next batch: the oldest values not in flight. While a
// batch of the link is in flight, values gather for the next one (as Nagle's
// algorithm does) unless a full batch is ready.
func (p *pump) Cut(maxMsgs, maxBytes int) (plugin.Batch, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.inflight) >= pluginwire.MaxBatchesInFlight || time.Now().Before(p.retryAt) {
		return plugin.Batch{}, false
	}
	p.pull()
	if n := p.releasable(); n > 0 {
		p.src.release(n) // values dead-lettered by the host, at the front
	}
	if len(p.inflight) > 0 && len(p.items)-p.sendFrom < maxMsgs && p.bytes < maxBytes {
		return plugin.Batch{}, false // a batch is in flight and the next is not full
	}
	fl := &flight{epoch: p.epoch}
	var payloads [][]byte
	size := 0
	for p.sendFrom < len(p.items) && len(payloads) < maxMsgs {
		it := p.items[p.sendFrom]
		if it.done || it.dlPending {
			p.sendFrom++
			continue
		}
		if len(payloads) > 0 && size+len(it.payload) > maxBytes {
			break
		}
		if it.attempts > 0 {
			p.db.CountLink(p.info.ID, host.LinkRetried, 1)
		}
		it.attempts++
		fl.items = append(fl.items, it)
		payloads = append(payloads, it.payload)
		size += len(it.payload)
		p.sendFrom++
	}
	if len(payloads) == 0 {
		return plugin.Batch{}, false
	}
	p.inflight = append(p.inflight, fl)
	return plugin.Batch{Instance: p.tr.instanceID(), Link: uint32(p.info.ID), Epoch: fl.epoch, Payloads: payloads,
		Done: func(fs []plugin.Failure) { p.done(fl, fs) }}, true
}

// Abandon is called when the stream the pump was ready on died before cutting it:
// the pending values are retried on the next stream.
func (p *pump) Abandon(err error) {
	p.mu.Lock()
	if !time.Now().Before(p.retryAt) {
		p.failHead(err)
	}
	p.mu.Unlock()
	p.noteState()
}

// done settles a batch: values before the first retryable failure are confirmed,
// values that failed for good are dead-lettered, and from a retryable failure on
// everything goes back to be sent again, in order, after a backoff.
func (p *pump) done(fl *flight, fs []plugin.Failure) {
	p.mu.Lock()
	if fl.epoch != p.epoch || len(p.inflight) == 0 {
		p.mu.Unlock()
		return // an older epoch: its values are queued again already
	}
	for i, x := range p.inflight { // results of one link come back in order: i is 0
		if x == fl {
			p.inflight = append(p.inflight[:i:i], p.inflight[i+1:]...)
			break
		}
	}
	failed := make(map[int]error, len(fs))
	for _, f := range fs {
		failed[f.Index] = f.Err
	}
	now, mono := time.Now(), monotime()
	var dls []*dlJob
	retried := false
	for i, it := range fl.items {
		err, bad := failed[i]
		if !bad {
			it.done = true
			p.db.CountLink(p.info.ID, host.LinkDelivered, 1)
			p.lastOK = now
			p.lat.observe(mono - it.readAt)
			continue
		}
		p.db.CountLink(p.info.ID, host.LinkFailed, 1)
		p.failed.count(err)
		if it.firstFail.IsZero() {
			it.firstFail = now
		}
		p.lastErr, p.lastErrAt = err, now
		if sdk.Retryable(err) && (p.pol.retryFor <= 0 || now.Sub(it.firstFail) < p.pol.retryFor) {
			p.requeue()
			retried = true
			break
		}
		if sdk.Retryable(err) {
			err = fmt.Errorf("gave up after retrying for %v: %w", p.pol.retryFor, err)
		}
		it.dlPending = true
		dls = append(dls, &dlJob{it: it, err: err})
		p.failingTill = now.Add(5 * time.Second)
	}
	if !retried {
		p.attempt = 0
		if len(dls) == 0 {
			p.failingTill = time.Time{}
		}
	}
	p.dls = append(p.dls, dls...)
	n := p.releasable()
	p.mu.Unlock()
	p.noteState()
	if len(dls) > 0 {
		select {
		case p.dlWake <- struct{}{}:
		default:
		}
	}
	p.afterProgress(n)
}

// requeue makes every value not yet confirmed pending again under a new epoch, in
// order (the failed one and all after it, and any older batch still without a
// result), and schedules the retry. p.mu is held.
func (p *pump) requeue() {
	p.sendFrom = len(p.items)
	for i, x := range p.items {
		if !x.done && !x.dlPending {
			p.sendFrom = i
			break
		}
	}
	p.inflight = nil
	p.epoch++
	p.scheduleRetry()
}

// failHead records a failure to send at all (the transport is down) as a
// retryable failure of the oldest pending value. p.mu is held.
func (p *pump) failHead(err error) {
	p.lastErr, p.lastErrAt = err, time.Now()
	p.db.CountLink(p.info.ID, host.LinkFailed, 1)
	p.failed.count(err)
	p.scheduleRetry()
}

// scheduleRetry waits the backoff of the next attempt, then kicks. p.mu is held.
func (p *pump) scheduleRetry() {
	d := p.pol.retry.Delay(p.attempt)
	p.attempt++
	p.retryAt = time.Now().Add(d)
	if p.retryTimer != nil {
		p.retryTimer.Stop()
	}
	p.retryTimer = time.AfterFunc(d, p.kick)
}

// releasable pops the released prefix of items and returns its length. p.mu is held.
func (p *pump) releasable() int {
	n := 0
	for n < len(p.items) && p.items[n].done {
		n++
	}
	if n == 0 {
		return 0
	}
	for _, it := range p.items[:n] {
		p.bytes -= len(it.payload)
	}
	clear(p.items[:n])
	p.items = p.items[n:]
	p.sendFrom -= min(n, p.sendFrom)
	return n
}

// afterProgress releases n values and sends on (the window has room again).
func (p *pump) afterProgress(n int) {
	if n > 0 {
		p.src.release(n)
	}
	p.signalIdle()
	p.kick()
}

// deadLetters writes the pump's dead letters in order, then releases their values.
// A dead-letter record that is itself full holds up only this link.
func (p *pump) deadLetters(ctx context.Context) {
	for {
		p.mu.Lock()
		var j *dlJob
		if len(p.dls) > 0 {
			j = p.dls[0]
			p.dls = p.dls[1:]
		}
		p.mu.Unlock()
		if j == nil {
			select {
			case <-p.dlWake:
				continue
			case <-ctx.Done():
				return
			}
		}
		err := p.db.DeadLetter(ctx, p.info.ID, host.DeadLetter{Direction: sdk.Outbound, Instance: p.inst, Err: j.err, Payload: j.it.payload})
		if err != nil {
			p.svc.log.Error("value lost: it failed for good and its dead letter could not be written",
				"record", p.info.Record, "link", p.info.URL.String(), "cause", j.err, "error", err)
		} else {
			p.svc.rate.warn(p.info.ID, "dead_letter", "value dead-lettered", "record", p.info.Record, "link", p.info.URL.String(), "error", j.err)
		}
		p.mu.Lock()
		j.it.dlPending, j.it.done = false, true
		n := p.releasable()
		p.mu.Unlock()
		p.afterProgress(n)
	}
}

func (p *pump) signalIdle() {
	select {
	case p.idle <- struct{}{}:
	default:
	}
}

// finished reports whether the pump has nothing left: source drained, all released.
func (p *pump) finished() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exhausted && len(p.items) == 0
}

// undelivered counts values read and not released plus what waits in the source.
func (p *pump) undelivered() uint64 {
	p.mu.Lock()
	n := uint64(0)
	for _, it := range p.items {
		if !it.done {
			n++
		}
	}
	p.mu.Unlock()
	return n + p.src.backlog()
}
