package outbox

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMaxBytes is the payload bytes an outbox holds when Options.MaxBytes is 0.
const DefaultMaxBytes = 256 << 20

// removeFlushDelay is how long a Remove may stay in memory only when no Append
// comes to carry it to disk: then a write of its own makes it durable.
const removeFlushDelay = 100 * time.Millisecond

var (
	// ErrFull is returned by Append when the values would take the outbox past its
	// MaxBytes. Nothing was appended: the caller back-pressures and tries again after
	// Remove has freed room.
	ErrFull = errors.New("outbox: full")
	// ErrTooLarge is returned by Append when the values alone are more than MaxBytes,
	// so that they could never fit, even in an empty outbox. Nothing was appended.
	ErrTooLarge = errors.New("outbox: values larger than the outbox's max bytes")
	// ErrClosed is returned by Append, Read, Remove and Flush of a closed Outbox and
	// by Open of a closed Dir.
	ErrClosed = errors.New("outbox: closed")
)

// Options configure one outbox.
type Options struct {
	// MaxBytes is how many payload bytes the outbox holds before Append fails with
	// ErrFull; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// Entry is one stored value.
type Entry struct {
	// Seq grows by 1 per appended value, survives restart and is never reused by the
	// same store.
	Seq uint64
	// Payload is the value as appended. Read returns a copy that the caller owns.
	Payload []byte
}

// state is what an engine found on disk when it opened.
type state struct {
	last  uint64 // highest seq ever appended
	first uint64 // seq of the oldest stored entry; last+1 when none is stored
	msgs  int
	bytes int64
}

// engine is one outbox's storage. The Outbox serialises commit calls; read and span
// may run concurrently with a commit and with each other.
type engine interface {
	// commit stores payloads under seqs first, first+1, … and deletes every stored
	// entry with seq <= delUpTo (0: none), in one durable (fsync'd) transaction.
	// payloads may be empty.
	commit(first uint64, payloads [][]byte, delUpTo uint64) error
	// read returns copies of the oldest stored entries with from <= seq <= upTo: at
	// most maxMsgs of them (<= 0: no limit) and, past the first, at most maxBytes
	// payload bytes (<= 0: no limit).
	read(from, upTo uint64, maxMsgs, maxBytes int) ([]Entry, error)
	// span counts the stored entries with from <= seq <= upTo and their payload bytes.
	span(from, upTo uint64) (msgs int, bytes int64, err error)
	close() error
}

// Outbox is a durable FIFO of byte values for one outbound link. Its methods are
// safe for concurrent use.
type Outbox struct {
	dir   *Dir
	name  string
	key   string
	path  string
	max   int64
	eng   engine
	wait  chan struct{}
	moved movedAside

	// ops is held for reading by every operation and for writing by Close, so that
	// Close waits for the operations under way and the engine is never used closed.
	ops    sync.RWMutex
	closed bool // under ops

	commitMu sync.Mutex // serialises engine commits: Append and remove flushes
	removeMu sync.Mutex // serialises Remove

	mu          sync.Mutex
	last        uint64 // highest committed seq
	removed     uint64 // every seq <= removed is gone for Read, Depth and MaxBytes
	physRemoved uint64 // every seq <= physRemoved is gone from disk, durably
	msgs        int
	bytes       int64
	flushTimer  *time.Timer // non-nil while a remove flush is scheduled
}

// movedAside tells of a store that could not be opened or read and was renamed
// aside so that the outbox could start empty.
type movedAside struct {
	From  string // the store's path
	To    string // where it is now
	Cause error  // why it was unreadable
}

func newOutbox(d *Dir, name, key, path string, opts Options, eng engine, st state) *Outbox {
	max := opts.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	o := &Outbox{
		dir: d, name: name, key: key, path: path, max: max, eng: eng,
		wait:  make(chan struct{}, 1),
		last:  st.last,
		msgs:  st.msgs,
		bytes: st.bytes,
	}
	if st.first > 0 {
		o.removed = st.first - 1
		o.physRemoved = st.first - 1
	}
	if st.msgs > 0 {
		o.signal()
	}
	return o
}

// Name is the link identity the outbox was opened with.
func (o *Outbox) Name() string { return o.name }

// Path is the outbox's store on disk.
func (o *Outbox) Path() string { return o.path }

// MovedAside reports the unreadable store that was renamed aside before this outbox
// started empty: its old path, its new path and the cause. All are empty when nothing
// was moved. The store held every outbox of the Dir: see (*Dir).MovedAside.
func (o *Outbox) MovedAside() (from, to string, cause error) {
	return o.moved.From, o.moved.To, o.moved.Cause
}

// Wait returns a channel that receives (without blocking the sender, capacity 1)
// after each Append, and once at open when the outbox holds entries: a publisher
// waits on it when Read found nothing.
func (o *Outbox) Wait() <-chan struct{} { return o.wait }

func (o *Outbox) signal() {
	select {
	case o.wait <- struct{}{}:
	default:
	}
}

// Depth returns how many values the outbox holds and their payload bytes: appended
// and not yet removed. It reads no disk.
func (o *Outbox) Depth() (msgs int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.msgs, o.bytes
}

// MaxBytes is the payload bytes the outbox holds before Append fails with ErrFull.
func (o *Outbox) MaxBytes() int64 { return o.max }

// LastSeq is the seq of the newest appended value (0 if none ever was).
func (o *Outbox) LastSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// Append stores payloads at the end of the outbox and returns the seq of the last one
// (the first is last-len(payloads)+1). All or nothing: when it returns nil, every value
// is on disk (fsync'd); on an error none was appended. It fails with ErrFull when the
// values would take the outbox past MaxBytes and with ErrTooLarge when they alone are
// more than MaxBytes. Appending no values returns LastSeq.
func (o *Outbox) Append(payloads [][]byte) (last uint64, err error) {
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return 0, ErrClosed
	}
	var n int64
	for _, p := range payloads {
		n += int64(len(p))
	}
	if n > o.max {
		return 0, fmt.Errorf("%w: %d bytes in %d values, max %d", ErrTooLarge, n, len(payloads), o.max)
	}

	o.commitMu.Lock()
	defer o.commitMu.Unlock()
	o.mu.Lock()
	if len(payloads) == 0 {
		defer o.mu.Unlock()
		return o.last, nil
	}
	if o.bytes+n > o.max {
		o.mu.Unlock()
		return 0, ErrFull
	}
	first := o.last + 1
	var del uint64
	if o.removed > o.physRemoved {
		del = o.removed
	}
	o.mu.Unlock()

	if err := o.eng.commit(first, payloads, del); err != nil {
		return 0, fmt.Errorf("outbox %s: append: %w", o.path, err)
	}

	o.mu.Lock()
	o.last = first + uint64(len(payloads)) - 1
	o.msgs += len(payloads)
	o.bytes += n
	if del > o.physRemoved {
		o.physRemoved = del
	}
	last = o.last
	o.mu.Unlock()
	o.signal()
	return last, nil
}

// Read returns the oldest entries with Seq > after: at most maxMsgs of them and at most
// maxBytes payload bytes, but at least one if any exists, even one larger than maxBytes
// (maxMsgs or maxBytes <= 0: no limit). It returns none and no error when there is
// nothing after after. Entries already removed are never returned. The payloads are
// copies that the caller owns.
func (o *Outbox) Read(after uint64, maxMsgs, maxBytes int) ([]Entry, error) {
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return nil, ErrClosed
	}
	o.mu.Lock()
	from := max(after, o.removed) + 1
	last := o.last
	o.mu.Unlock()
	if from > last {
		return nil, nil
	}
	// Not past last: an entry that a commit under way already stored is not yet
	// counted, and Remove does not remove past last.
	es, err := o.eng.read(from, last, maxMsgs, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("outbox %s: read: %w", o.path, err)
	}
	return es, nil
}

// Remove drops every entry with Seq <= upTo: the publisher calls it once the connector
// confirmed them. Depth and MaxBytes see it at once. On disk it is carried by the next
// Append or, if none comes within 100 ms, by a write of its own, and by Flush and
// Close: a crash before then may bring removed entries back (they are sent again: at
// least once), never lose others.
func (o *Outbox) Remove(upTo uint64) error {
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return ErrClosed
	}
	o.removeMu.Lock()
	defer o.removeMu.Unlock()
	o.mu.Lock()
	upTo = min(upTo, o.last)
	if upTo <= o.removed {
		o.mu.Unlock()
		return nil
	}
	from := o.removed + 1
	o.mu.Unlock()

	// Entries in [from, upTo] are committed (upTo <= last) and not yet deleted on disk
	// (physRemoved <= removed < from), so span sees all of them.
	n, b, err := o.eng.span(from, upTo)
	if err != nil {
		return fmt.Errorf("outbox %s: remove: %w", o.path, err)
	}
	o.mu.Lock()
	o.removed = upTo
	o.msgs -= n
	o.bytes -= b
	if o.flushTimer == nil {
		o.flushTimer = time.AfterFunc(removeFlushDelay, o.timedFlush)
	}
	o.mu.Unlock()
	return nil
}

// Flush makes every Remove so far durable now.
func (o *Outbox) Flush() error {
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return ErrClosed
	}
	return o.flush()
}

func (o *Outbox) timedFlush() {
	o.ops.RLock()
	defer o.ops.RUnlock()
	o.mu.Lock()
	o.flushTimer = nil
	o.mu.Unlock()
	if o.closed {
		return
	}
	if err := o.flush(); err != nil {
		o.dir.log.Error("outbox: cannot write removed entries to disk; they are sent again after a crash",
			"link", o.name, "path", o.path, "error", err)
	}
}

// flush commits pending removes. The caller holds ops for reading or writing.
func (o *Outbox) flush() error {
	o.commitMu.Lock()
	defer o.commitMu.Unlock()
	o.mu.Lock()
	del := o.removed
	pending := del > o.physRemoved
	o.mu.Unlock()
	if !pending {
		return nil
	}
	if err := o.eng.commit(0, nil, del); err != nil {
		return fmt.Errorf("outbox %s: remove: %w", o.path, err)
	}
	o.mu.Lock()
	if del > o.physRemoved {
		o.physRemoved = del
	}
	o.mu.Unlock()
	return nil
}

// Close writes pending removes to disk and closes the store. The entries stay on disk
// for the next Open of the same name. Methods called after Close return ErrClosed.
func (o *Outbox) Close() error {
	o.ops.Lock()
	defer o.ops.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	o.mu.Lock()
	if o.flushTimer != nil {
		o.flushTimer.Stop()
		o.flushTimer = nil
	}
	o.mu.Unlock()
	err := o.flush()
	if cerr := o.eng.close(); err == nil && cerr != nil {
		err = fmt.Errorf("outbox %s: close: %w", o.path, cerr)
	}
	o.dir.forget(o)
	return err
}
