package host

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DB is a built set of records with their stages, links and services. Typed access
// goes through ProducerOf, ConsumerOf and Get; dynamic access through GetJSON, SetJSON
// and WatchJSON. Its methods are safe for concurrent use.
type DB struct {
	records    map[string]anyRecord
	order      []string
	links      []*link
	stageSpecs []stageSpec
	stages     []boundStage
	loops      []stageLoop // stage bodies, subscribed at Build
	services   []namedService
	graph      Graph
	drain      time.Duration
	log        hclog.Logger

	started chan struct{} // closed once Run started every service (or gave up)

	mu      sync.Mutex
	state   dbState
	cancel  context.CancelFunc // cancels Run
	runDone chan struct{}      // closed when Run returned
	closed  sync.Once
}

type dbState uint8

const (
	stateBuilt dbState = iota
	stateRunning
	stateClosed
)

func newDB(b *Builder) *DB {
	return &DB{
		records:  map[string]anyRecord{},
		services: append([]namedService(nil), b.services...),
		drain:    b.drain,
		log:      b.log,
		started:  make(chan struct{}),
	}
}

// Started is closed once Run has started every service (the connector layer: its
// instances are built and its links run), or failed to; and when the DB closes
// without running.
func (db *DB) Started() <-chan struct{} { return db.started }

func (db *DB) addRecord(r anyRecord) {
	key := r.core().key
	db.records[key] = r
	db.order = append(db.order, key)
}

func (db *DB) addLink(l *link) {
	l.info.ID = len(db.links)
	db.links = append(db.links, l)
}

// subscribe subscribes every stage's consumers and a first reader of every outbound
// link, so nothing produced after Build (before or during Run) is missed by them.
func (db *DB) subscribe() {
	db.loops = make([]stageLoop, len(db.stages))
	for i, s := range db.stages {
		db.loops[i] = s.start()
	}
	for _, l := range db.links {
		if l.open != nil {
			l.pending.Store(&LinkReader{link: l, stream: l.open(l.policy.Hold)})
		}
	}
}

// Logger returns the DB's logger.
func (db *DB) Logger() hclog.Logger { return db.log }

// Run starts every stage, then every service, and blocks until ctx is cancelled (or
// Close is called). It then stops the stages, closes the buffers (consumers and link
// readers drain what is left, then get ErrClosed), and stops the services in reverse
// order with a context bounded by the drain timeout. It returns the errors of stages
// that failed and of services that did not start or stop cleanly. Run runs once.
func (db *DB) Run(ctx context.Context) error {
	db.mu.Lock()
	if db.state != stateBuilt {
		db.mu.Unlock()
		return ErrNotRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	db.state, db.cancel, db.runDone = stateRunning, cancel, make(chan struct{})
	db.mu.Unlock()
	defer close(db.runDone)
	defer cancel()

	var errMu sync.Mutex
	var errs []error
	report := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	stageCtx, stopStages := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for i, loop := range db.loops {
		s := db.stages[i].spec
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runLoop(stageCtx, loop); err != nil && stageCtx.Err() == nil {
				db.records[s.record].core().stageErrors.Add(1)
				db.log.Error("stage failed", "record", s.record, "stage", s.name, "error", err)
				report(fmt.Errorf("record %q: %s: %w", s.record, s.name, err))
			}
		}()
	}

	started := 0
	for _, s := range db.services {
		if err := s.svc.Start(ctx, db); err != nil {
			report(fmt.Errorf("service %q: start: %w", s.name, err))
			cancel()
			break
		}
		started++
	}
	close(db.started)

	<-ctx.Done()
	stopStages()
	wg.Wait()
	db.closeBuffers()
	db.closePending()
	for _, err := range db.stopServices(context.WithoutCancel(ctx), started) {
		report(err)
	}
	db.CloseDeadLetters()
	db.mu.Lock()
	db.state = stateClosed
	db.mu.Unlock()
	return errors.Join(errs...)
}

// runLoop runs a stage body, turning a panic into an error.
func runLoop(ctx context.Context, loop stageLoop) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return loop(ctx)
}

// Close shuts the DB down: it ends a running Run and waits for it, or, when Run never
// ran, closes the buffers. Close is idempotent and returns nil.
func (db *DB) Close() error {
	db.mu.Lock()
	state, cancel, done := db.state, db.cancel, db.runDone
	if state == stateBuilt {
		db.state = stateClosed
	}
	db.mu.Unlock()
	switch state {
	case stateBuilt:
		close(db.started)
		db.closeBuffers()
		db.closePending()
		db.stopServices(context.Background(), len(db.services))
		db.CloseDeadLetters()
	case stateRunning:
		cancel()
		<-done
	}
	return nil
}

// stopServices stops the first n services in reverse order within the drain
// deadline and returns their errors.
func (db *DB) stopServices(ctx context.Context, n int) []error {
	ctx, cancel := context.WithTimeout(ctx, db.drain)
	defer cancel()
	var errs []error
	for i := n - 1; i >= 0; i-- {
		s := db.services[i]
		if err := s.svc.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("service %q: stop: %w", s.name, err))
		}
	}
	return errs
}

// closeBuffers closes every record's buffer but the dead-letter records', once; those
// close after the services stopped (CloseDeadLetters).
func (db *DB) closeBuffers() {
	db.closed.Do(func() {
		for _, key := range db.order {
			if r := db.records[key]; !r.core().deadLetters {
				r.closeBuffer()
			}
		}
	})
}

// closePending closes link readers nobody opened.
func (db *DB) closePending() {
	for _, l := range db.links {
		if r := l.pending.Swap(nil); r != nil {
			r.Close()
		}
	}
}

// Service returns the service registered under name, or nil: the connector layer
// uses it to find itself for status queries.
func (db *DB) Service(name string) Service {
	for _, s := range db.services {
		if s.name == name {
			return s.svc
		}
	}
	return nil
}

// LinkCapacity is the capacity of link id's record buffer (1 for single-latest and
// mailbox), so the connector layer can tell when a holding link blocks its producers.
func (db *DB) LinkCapacity(id int) int {
	l, err := db.linkByID(id, 0)
	if err != nil {
		return 0
	}
	return db.records[l.info.Record].core().spec.Capacity
}
