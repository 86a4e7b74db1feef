package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Reconnector keeps one connection to an outside system up in the background, for as
// long as the context given to Run lives. It runs Session; when Session returns (the
// attempt failed, or the connection was lost), it waits a Backoff delay and runs it
// again. This is how a connector should connect: Build starts Run with
// BuildContext.Go and returns at once; Publish fails fast with Health's error while
// down (KindConnectionFailed, so the host keeps the value and retries); and Session
// subscribes again after every connect, so inbound links survive outages.
//
// Fill the exported fields, then call Run once. The methods are safe for concurrent
// use.
type Reconnector struct {
	// Name says what is connected, for logs and errors ("MQTT broker 10.0.0.5:1883").
	Name string
	// Session makes one connection attempt and, once connected, calls MarkUp,
	// subscribes, and serves the connection until it is lost or ctx ends. It returns
	// why it ended. It must return soon after ctx ends, and leave no goroutine behind.
	Session func(ctx context.Context) error
	// Backoff spaces the attempts (its zero value: 100 ms doubling to 30 s, jittered).
	Backoff Backoff
	// Stable is how long a connection must have lasted for the next attempt to
	// start over at Backoff.Min (default 1 s): a connection that drops at once keeps
	// backing off, so a flapping peer is not hammered.
	Stable time.Duration
	// Logger gets one line per change: connected, lost, first failure or a new
	// reason (repeats of a failure go to Debug). Nil logs nothing.
	Logger hclog.Logger

	up    atomic.Bool
	mu    sync.Mutex
	err   error     // why it is down; nil while up
	since time.Time // when the current state began
	upAt  time.Time // when this session came up; zero when it did not
	stats ReconnectStats
}

// ReconnectStats counts a Reconnector's work.
type ReconnectStats struct {
	Attempts int64 // sessions started
	Connects int64 // sessions that came up
	Failures int64 // sessions that ended without coming up
	Losses   int64 // connections lost after they were up
}

// Run runs sessions until ctx ends. Start it with BuildContext.Go.
func (r *Reconnector) Run(ctx context.Context) {
	log := r.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	stable := r.Stable
	if stable <= 0 {
		stable = time.Second
	}
	failures := 0
	var lastReason string
	for ctx.Err() == nil {
		r.mu.Lock()
		r.stats.Attempts++
		r.upAt = time.Time{}
		r.mu.Unlock()
		err := r.Session(ctx)
		if ctx.Err() != nil {
			r.MarkDown(Errorf(KindClosed, "%s: closed", r.Name))
			return
		}
		if err == nil {
			err = errors.New("session ended")
		}
		r.mu.Lock()
		upAt := r.upAt
		if upAt.IsZero() {
			r.stats.Failures++
		} else {
			r.stats.Losses++
		}
		r.mu.Unlock()
		r.MarkDown(err)
		switch {
		case !upAt.IsZero():
			lasted := time.Since(upAt)
			log.Warn("connection lost; reconnecting", "to", r.Name, "error", err, "was_up", lasted.Round(time.Millisecond))
			if lasted >= stable {
				failures = 0
			} else {
				failures++
			}
			lastReason = ""
		default:
			failures++
			if reason := err.Error(); reason != lastReason {
				log.Warn("cannot connect; retrying", "to", r.Name, "error", err, "attempt", failures)
				lastReason = reason
			} else {
				log.Debug("connect attempt failed", "to", r.Name, "error", err, "attempt", failures)
			}
		}
		t := time.NewTimer(r.Backoff.Delay(max(failures-1, 0)))
		select {
		case <-ctx.Done():
			t.Stop()
			r.MarkDown(Errorf(KindClosed, "%s: closed", r.Name))
			return
		case <-t.C:
		}
	}
}

// MarkUp says the session's connection is usable: Health turns nil. Session calls
// it; keyvals (hclog pairs, such as the address a gateway gave) join the log line.
func (r *Reconnector) MarkUp(keyvals ...any) {
	r.mu.Lock()
	now := time.Now()
	r.err, r.since, r.upAt = nil, now, now
	r.stats.Connects++
	r.mu.Unlock()
	r.up.Store(true)
	if r.Logger != nil {
		r.Logger.Info("connected", append([]any{"to", r.Name}, keyvals...)...)
	}
}

// MarkDown says the connection is not usable, and why; Run calls it when a session
// ends, and a session may call it earlier (when it learns of the loss first, or
// while it closes). The first reason of an outage is kept with its time.
func (r *Reconnector) MarkDown(err error) {
	r.up.Store(false)
	r.mu.Lock()
	if r.err == nil {
		r.since = time.Now()
	}
	r.err = err
	r.mu.Unlock()
}

// Connected reports whether the connection is up (cheap enough for every Publish).
func (r *Reconnector) Connected() bool { return r.up.Load() }

// Health returns nil while connected; otherwise a KindConnectionFailed error saying
// what is down, since when and why.
func (r *Reconnector) Health() error {
	if r.up.Load() {
		return nil
	}
	r.mu.Lock()
	err, since := r.err, r.since
	r.mu.Unlock()
	if err == nil {
		err = errors.New("not connected yet")
	}
	if since.IsZero() {
		return &Error{Kind: KindConnectionFailed, Err: fmt.Errorf("%s: %w", r.Name, err)}
	}
	return &Error{Kind: KindConnectionFailed, Err: fmt.Errorf("%s: down since %s: %w", r.Name, since.Format(time.RFC3339), err)}
}

// Stats returns the counts so far.
func (r *Reconnector) Stats() ReconnectStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}
