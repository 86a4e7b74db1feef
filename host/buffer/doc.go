// Package buffer holds the three record buffers of AimDB: SPMC ring, single-latest and
// mailbox. They share one contract: Push never blocks and never fails while the buffer is
// open, each consumer owns a Reader, and readers report ErrEmpty, *LagError or ErrClosed.
//
// The buffers are generic over the value type and allocate nothing per value: values are
// copied into preallocated slots under short per-slot locks, and a parked reader is woken
// through its own one-slot channel rather than a channel send per message.
package buffer
