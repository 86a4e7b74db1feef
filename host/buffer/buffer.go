package buffer

import (
	"context"
	"fmt"
)

// Kind names a buffer type.
type Kind uint8

// Buffer kinds, matching upstream AimDB's buffer names.
const (
	KindSPMCRing     Kind = iota + 1 // every reader sees every value; oldest overwritten unless a holding reader needs it
	KindSingleLatest                 // only the newest value is kept
	KindMailbox                      // one slot; each value goes to exactly one reader
)

// DefaultCapacity is the SPMC ring capacity used when none is given.
const DefaultCapacity = 1024

// String returns "spmc_ring", "single_latest" or "mailbox".
func (k Kind) String() string {
	switch k {
	case KindSPMCRing:
		return "spmc_ring"
	case KindSingleLatest:
		return "single_latest"
	case KindMailbox:
		return "mailbox"
	}
	return fmt.Sprintf("buffer(%d)", uint8(k))
}

// ParseKind turns a buffer name ("spmc_ring", "single_latest", "mailbox") into a Kind.
func ParseKind(s string) (Kind, error) {
	for k := KindSPMCRing; k <= KindMailbox; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown buffer %q (want spmc_ring, single_latest or mailbox)", s)
}

// Spec says which buffer to make. Capacity applies to the SPMC ring only.
type Spec struct {
	Kind     Kind
	Capacity int
}

// String prints the spec as "spmc_ring(1024)", "single_latest" or "mailbox".
func (s Spec) String() string {
	if s.Kind == KindSPMCRing {
		return fmt.Sprintf("%s(%d)", s.Kind, s.Capacity)
	}
	return s.Kind.String()
}

// Validate reports a spec that New would reject.
func (s Spec) Validate() error {
	switch s.Kind {
	case KindSPMCRing:
		if s.Capacity <= 0 {
			return fmt.Errorf("spmc_ring capacity must be at least 1, got %d", s.Capacity)
		}
	case KindSingleLatest, KindMailbox:
		if s.Capacity != 0 && s.Capacity != 1 {
			return fmt.Errorf("%s holds one value; capacity %d makes no sense", s.Kind, s.Capacity)
		}
	default:
		return fmt.Errorf("unknown buffer kind %d", s.Kind)
	}
	return nil
}

// Buffer is a record's buffer. Push and Peek are safe for concurrent use; each Reader
// belongs to one goroutine.
type Buffer[T any] interface {
	// Push stores v and wakes waiting readers. It never blocks. It fails with ErrClosed
	// after Close, and with ErrFull when a holding reader (SubscribeHolding) has not
	// released the value v would overwrite.
	Push(v T) error
	// Room returns a channel that is closed when a holding reader releases values or
	// the buffer closes: a producer refused with ErrFull waits on it, then pushes again.
	// Get the channel before pushing again, so a release in between is not missed.
	Room() <-chan struct{}
	// Peek returns the newest value pushed, without consuming it.
	Peek() (T, bool)
	// Subscribe returns a new reader. What it sees first depends on the kind: an SPMC
	// ring reader only values pushed after Subscribe, a single-latest reader the current
	// value, a mailbox reader whatever is in the slot.
	Subscribe() Reader[T]
	// SubscribeHolding returns a reader that holds its place: values it has read stay
	// in the buffer until it releases them (Reader.Release), and Push refuses with
	// ErrFull rather than overwrite one of them or a value it has not read yet. Only
	// the SPMC ring can hold; the other kinds return ok == false (newest value wins).
	SubscribeHolding() (r Reader[T], ok bool)
	// Close wakes every reader; they drain what is left and then get ErrClosed.
	// Close is idempotent.
	Close()
	// Stats returns the buffer's counters.
	Stats() Stats
	// Spec returns the kind and capacity the buffer was made with.
	Spec() Spec
}

// Reader is one consumer's view of a buffer. Recv and TryRecv belong to one goroutine;
// Close may be called from any goroutine.
type Reader[T any] interface {
	// Recv waits for the next value. It returns *LagError (SPMC ring only) when values
	// were missed, ErrClosed when the buffer is closed and drained, or ctx's error.
	Recv(ctx context.Context) (T, error)
	// TryRecv is Recv without waiting: ErrEmpty when nothing is there.
	TryRecv() (T, error)
	// Backlog is how many values wait for this reader: pushed but not yet received.
	Backlog() uint64
	// Release marks the n oldest values this reader received and has not released as
	// done, making room for producers. It does nothing for a reader that does not hold.
	Release(n int)
	// Dropped counts the values this reader never saw: overwritten before it read them
	// (ring), skipped for a newer one (single latest), or overwritten unread in the
	// slot (mailbox, counted for the whole mailbox).
	Dropped() uint64
	// Notify is Recv without a waiting goroutine, for readers of many buffers: it
	// arranges for wake to be called once, on a producer's goroutine, when a value may
	// be ready or the buffer closes, and reports true. It reports false, arranging
	// nothing, when TryRecv has something (or an error) to return now. After wake,
	// drain with TryRecv and call Notify again. wake must not block; it may be called
	// when nothing turns out to be there. A reader uses Recv or Notify, not both.
	Notify(wake func()) bool
	// Close detaches the reader from the buffer; a Recv waiting on another goroutine
	// returns ErrClosed. A holding reader stops holding. Close is idempotent.
	Close()
}

// Stats are a buffer's counters, summed over its readers past and present.
type Stats struct {
	// Produced counts successful Push calls.
	Produced uint64
	// Consumed counts values handed to readers.
	Consumed uint64
	// Dropped counts values some reader never saw: overwritten in the ring before a
	// reader got them, skipped by a single-latest reader, or overwritten unread in a mailbox.
	Dropped uint64
	// Refused counts pushes refused with ErrFull because a holding reader was a full
	// buffer behind.
	Refused uint64
	// Lagged counts LagError results (SPMC ring).
	Lagged uint64
	// Occupancy is how many values wait for the slowest reader (at most Capacity).
	Occupancy int
	// Capacity is how many values the buffer holds.
	Capacity int
	// Readers is the number of open readers.
	Readers int
}

// New makes a buffer for spec.
func New[T any](spec Spec) (Buffer[T], error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	switch spec.Kind {
	case KindSPMCRing:
		return NewRing[T](spec.Capacity), nil
	case KindSingleLatest:
		return NewLatest[T](), nil
	default:
		return NewMailbox[T](), nil
	}
}
