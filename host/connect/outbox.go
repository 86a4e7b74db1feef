package connect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/outbox"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// outboxes are the disk outboxes of the links that ask for one, in the data directory.
type outboxes struct {
	dir  *outbox.Dir
	log  hclog.Logger
	mu   sync.Mutex
	open []*outbox.Outbox
}

// outboxName is a link's stable identity in the data directory.
func outboxName(l host.LinkInfo) string { return l.Record + " -> " + l.URL.String() }

// openOutboxes opens the data directory when a link asks for a disk outbox, and logs
// the outboxes left by links the configuration no longer has (never deleting them).
func openOutboxes(dataDir string, plans []*instancePlan, log hclog.Logger) (*outboxes, error) {
	var claimed []string
	for _, p := range plans {
		for _, l := range p.links {
			if l.Direction == sdk.Outbound && p.policies[l.ID].outbox == OutboxDisk {
				claimed = append(claimed, outboxName(l))
			}
		}
	}
	if len(claimed) == 0 {
		return nil, nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("%d link(s) ask for a disk outbox, but no data directory is set (WithDataDir; aimdb run --data-dir)", len(claimed))
	}
	dir, err := outbox.OpenDir(dataDir, log.Named("outbox"))
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	for _, o := range dir.Unclaimed(claimed) {
		if o.Err != nil {
			log.Error("unreadable outbox in the data directory belongs to no link", "path", o.Path, "error", o.Err)
			continue
		}
		log.Warn("outbox in the data directory belongs to no configured link; its values are kept, not sent",
			"path", o.Path, "link", o.Name, "messages", o.Msgs, "bytes", o.Bytes)
	}
	return &outboxes{dir: dir, log: log}, nil
}

// source opens link l's outbox and starts the goroutine that fills it from rd.
// The record's durable gate learns what the filler stored.
func (o *outboxes) source(ctx context.Context, db *host.DB, inst string, l host.LinkInfo, rd *host.LinkReader, pol linkPolicy, gate *durableGate, wg *sync.WaitGroup) (source, error) {
	ob, err := o.dir.Open(outboxName(l), outbox.Options{MaxBytes: pol.outboxMaxBytes})
	if err != nil {
		return nil, err
	}
	if from, to, cause := ob.MovedAside(); from != "" {
		o.log.Error("outbox was unreadable: moved aside, starting empty", "link", l.URL.String(), "record", l.Record,
			"path", from, "moved_to", to, "error", cause)
	}
	if m, b := ob.Depth(); m > 0 {
		o.log.Info("outbox holds values from an earlier run; sending them first", "link", l.URL.String(), "record", l.Record, "messages", m, "bytes", b)
	}
	o.mu.Lock()
	o.open = append(o.open, ob)
	o.mu.Unlock()
	s := &outboxSource{ob: ob, rd: rd, filled: make(chan struct{}), log: o.log, link: l, db: db, inst: inst}
	if gate != nil {
		s.counts = gate.register(rd.Backlog)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.fill(ctx)
	}()
	go func() {
		defer wg.Done()
		s.watch(ctx)
	}()
	return s, nil
}

// close closes every outbox and the data directory.
func (o *outboxes) close() {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, ob := range o.open {
		if err := ob.Close(); err != nil {
			o.log.Error("closing outbox", "path", ob.Path(), "error", err)
		}
	}
	o.open = nil
	if err := o.dir.Close(); err != nil {
		o.log.Error("closing data directory", "error", err)
	}
}

// outboxSource is a pump's source that goes through a disk outbox: a filler moves the
// record's values into the outbox as fast as they come (the record is released once
// they are on disk), and the pump reads them back from the outbox; a value leaves the
// outbox only once the connector confirmed it.
type outboxSource struct {
	ob     *outbox.Outbox
	rd     *host.LinkReader
	db     *host.DB
	inst   string
	log    hclog.Logger
	link   host.LinkInfo
	filled chan struct{} // closed when the record is drained for good
	isFull atomic.Bool   // the filler waits: the outbox is at outbox_max_bytes
	counts *filling      // what the filler took and stored, for inbound acknowledgements; nil without a gate
	wake   atomic.Pointer[func()]

	// Owned by the pump's goroutine (next, tryNext) and its release calls.
	mu      sync.Mutex
	cursor  uint64   // seq of the last entry handed out
	handed  []uint64 // seqs handed out and not released, oldest first
	pending []outbox.Entry
}

// fill moves values from the record into the outbox until the record is drained.
func (s *outboxSource) fill(ctx context.Context) {
	defer s.rd.Close()
	var batch [][]byte
	for {
		v, err := s.rd.Next(ctx)
		read := 0
		took := uint64(0) // values the reader moved past, missed ones included
		switch {
		case errors.Is(err, host.ErrClosed):
			close(s.filled)
			return
		case err == nil:
			batch, read, took = append(batch[:0], v), 1, 1
		case isEncodeOrLag(err):
			batch, read, took = batch[:0], 1, passed(err)
		default:
			return // ctx ended
		}
		size := len(v)
		for len(batch) < pluginwire.MaxBatchMessages && size < pluginwire.MaxBatchBytes {
			v, err := s.rd.TryNext()
			if errors.Is(err, host.ErrEmpty) || errors.Is(err, host.ErrClosed) {
				break
			}
			if err != nil {
				if isEncodeOrLag(err) {
					read++
					took += passed(err)
					continue
				}
				break
			}
			batch, read, took, size = append(batch, v), read+1, took+1, size+len(v)
		}
		if s.counts != nil {
			s.counts.taken.Add(took)
		}
		if !s.append(ctx, batch) {
			return
		}
		if s.counts != nil {
			s.counts.store(took)
		}
		s.rd.Release(read) // values dead-lettered (by the host or here) count too
	}
}

// passed is how far a read error moved the reader: the values a lag skipped, or the
// one value that did not encode.
func passed(err error) uint64 {
	var lag *host.LagError
	if errors.As(err, &lag) {
		return lag.Missed
	}
	return 1
}

func isEncodeOrLag(err error) bool {
	var enc *host.EncodeError
	var lag *host.LagError
	return errors.As(err, &enc) || errors.As(err, &lag)
}

// append writes a batch, waiting while the outbox is full; false when ctx ended or
// the outbox failed (logged: the values stay held in the record). A value larger than
// the whole outbox can hold is dead-lettered.
func (s *outboxSource) append(ctx context.Context, batch [][]byte) bool {
	if len(batch) == 0 {
		return true
	}
	for {
		_, err := s.ob.Append(batch)
		switch {
		case err == nil:
			s.isFull.Store(false)
			return true
		case errors.Is(err, outbox.ErrTooLarge) && len(batch) > 1:
			for _, v := range batch { // find the value that can never fit
				if !s.append(ctx, [][]byte{v}) {
					return false
				}
			}
			return true
		case errors.Is(err, outbox.ErrTooLarge):
			cause := sdk.Errorf(sdk.KindMessageTooLarge, "value of %d bytes exceeds the disk outbox's outbox_max_bytes (%d)", len(batch[0]), s.ob.MaxBytes())
			if err := s.db.DeadLetter(ctx, s.link.ID, host.DeadLetter{Direction: sdk.Outbound, Instance: s.inst, Err: cause, Payload: batch[0]}); err != nil {
				s.log.Error("value lost: too large for the disk outbox, and its dead letter could not be written",
					"link", s.link.URL.String(), "record", s.link.Record, "cause", cause, "error", err)
			}
			return true
		case errors.Is(err, outbox.ErrFull):
			s.isFull.Store(true)
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return false
			}
		default:
			s.log.Error("outbox append failed; the link stops moving values to disk (they stay in the record)",
				"link", s.link.URL.String(), "record", s.link.Record, "path", s.ob.Path(), "error", err)
			return false
		}
	}
}

// notify arms wake for the next append to the outbox or the end of the filling.
func (s *outboxSource) notify(wake func()) bool {
	s.wake.Store(&wake)
	if s.ready() {
		if s.wake.CompareAndSwap(&wake, nil) {
			return false
		}
	}
	return true
}

// ready reports whether tryNext has something to return now.
func (s *outboxSource) ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 {
		return true
	}
	if m, _ := s.ob.Depth(); m > len(s.handed) {
		return true
	}
	select {
	case <-s.filled:
		return true // tryNext reports the end
	default:
		return false
	}
}

// watch calls the armed wake after every append and once when the filling ends.
func (s *outboxSource) watch(ctx context.Context) {
	fire := func() {
		if w := s.wake.Swap(nil); w != nil {
			(*w)()
		}
	}
	for {
		select {
		case <-s.ob.Wait():
			fire()
		case <-s.filled:
			fire()
			return
		case <-ctx.Done():
			return
		}
	}
}

func (s *outboxSource) tryNext() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		filled := false
		select {
		case <-s.filled:
			filled = true // read once more: the filler may have appended last
		default:
		}
		es, err := s.ob.Read(s.cursor, pluginwire.MaxBatchMessages, pluginwire.MaxBatchBytes)
		if err != nil {
			return nil, err
		}
		if len(es) == 0 {
			if filled {
				return nil, host.ErrClosed
			}
			return nil, host.ErrEmpty
		}
		s.pending = es
	}
	e := s.pending[0]
	s.pending = s.pending[1:]
	s.cursor = e.Seq
	s.handed = append(s.handed, e.Seq)
	return e.Payload, nil
}

// release removes the n oldest handed-out values from the outbox.
func (s *outboxSource) release(n int) {
	s.mu.Lock()
	n = min(n, len(s.handed))
	if n == 0 {
		s.mu.Unlock()
		return
	}
	upTo := s.handed[n-1]
	s.handed = s.handed[n:]
	s.mu.Unlock()
	if err := s.ob.Remove(upTo); err != nil {
		s.log.Error("outbox remove failed; the values may be sent again after a restart", "path", s.ob.Path(), "error", err)
	}
}

// backlog counts values in the outbox not handed out plus those still in the record.
func (s *outboxSource) backlog() uint64 {
	m, _ := s.ob.Depth()
	s.mu.Lock()
	handed := len(s.handed)
	s.mu.Unlock()
	return uint64(max(m-handed, 0)) + s.rd.Backlog()
}

func (s *outboxSource) depth() (int, int64) { return s.ob.Depth() }
func (s *outboxSource) full() bool          { return s.isFull.Load() }

// close does nothing: the filler closes the reader, the service the outbox.
func (s *outboxSource) close() {}
