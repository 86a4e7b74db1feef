package buffer

import (
	"errors"
	"fmt"
)

// ErrEmpty is returned by TryRecv when no value is waiting.
var ErrEmpty = errors.New("buffer empty")

// ErrFull is returned by Push when a holding reader (an at-least-once link) has not
// released the oldest value the ring would overwrite: the value is refused instead of
// overwriting one that was not delivered yet. Wait on Room and push again.
var ErrFull = errors.New("buffer full")

// ErrClosed is returned once the buffer is closed and the reader has nothing left to read,
// and by Push after Close.
var ErrClosed = errors.New("buffer closed")

// LagError tells an SPMC-ring reader that it fell behind and Missed values were
// overwritten before it read them. The reader continues from the oldest live value.
type LagError struct {
	Missed uint64
}

// Error says how many values were missed.
func (e *LagError) Error() string {
	return fmt.Sprintf("consumer lagged: missed %d values", e.Missed)
}
