package serve

import (
	"sync"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// inboundPipe queues inbound messages of every instance of the process until the
// Inbound stream sends them. Messages collect in chunks of at most one batch each, so
// whatever arrived while a batch was on its way goes out as the next batch without
// being copied again.
type inboundPipe struct {
	mu      sync.Mutex
	chunks  []*inboundChunk
	pending int
	wake    chan<- struct{} // the data writer's
	spare   sync.Pool       // acknowledged chunks, reused so steady batching allocates no columns
}

// inboundChunk is one future batch, in columns; payloads are copied back to back
// into data, so the batch encodes as one bytes field and decodes with one allocation.
type inboundChunk struct {
	ids       []uint64
	routes    []uint32
	sizes     []uint32
	data      []byte
	acks      []func(error)
	oversized []*pb.Oversized
	metadata  []*pb.Metadata

	unsettled int   // acks not yet run, once the batch is sent
	sent      bool  // gRPC is done with the columns
	due       int64 // when the chunk must be sent (monoNow), the earliest of its messages'
}

func newInboundPipe(wake chan<- struct{}) *inboundPipe {
	return &inboundPipe{wake: wake}
}

// takes reports whether the chunk has room for one more payload of size bytes; an
// empty chunk takes any payload, so one larger than a batch travels alone.
func (c *inboundChunk) takes(size int) bool {
	n := len(c.acks)
	return n == 0 || n < pluginwire.MaxBatchMessages && len(c.data)+size <= pluginwire.MaxBatchBytes
}

// newChunk returns an empty chunk: an acknowledged one when there is one.
func (p *inboundPipe) newChunk(size int) *inboundChunk {
	if c, ok := p.spare.Get().(*inboundChunk); ok {
		return c
	}
	return newInboundChunk(size)
}

// recycle keeps an acknowledged chunk for a later batch, unless an oversized payload
// grew its data beyond a batch's bytes.
func (p *inboundPipe) recycle(c *inboundChunk) {
	if cap(c.data) > pluginwire.MaxBatchBytes {
		return
	}
	clear(c.acks) // drop the connector's closures
	c.ids, c.routes, c.sizes, c.data, c.acks = c.ids[:0], c.routes[:0], c.sizes[:0], c.data[:0], c.acks[:0]
	c.oversized, c.metadata, c.unsettled, c.sent, c.due = nil, nil, 0, false, 0
	p.spare.Put(c)
}

// newInboundChunk makes a chunk sized for a batch of messages like the first one.
func newInboundChunk(size int) *inboundChunk {
	const n = pluginwire.MaxBatchMessages
	data := min(max(size*n, 4<<10), pluginwire.MaxBatchBytes)
	if size > data {
		data = size
	}
	return &inboundChunk{ids: make([]uint64, 0, n), routes: make([]uint32, 0, n), sizes: make([]uint32, 0, n),
		data: make([]byte, 0, data), acks: make([]func(error), 0, n)}
}

// deliver queues one message, to be sent by due (monoNow); ack runs when the host
// took or refused it. The payload is copied (its metadata converted), so the caller
// may reuse it once deliver returns. A payload larger than the boundary carries
// travels as a prefix marked oversized: the host dead-letters it and refuses it for
// good, so the connector acknowledges it upstream and it cannot block the messages
// behind it.
func (p *inboundPipe) deliver(inst uint64, due int64, m run.Message, ack func(error)) {
	payload, size := m.Payload, len(m.Payload)
	if size > pluginwire.MaxPayloadBytes {
		payload = payload[:pluginwire.OversizedPrefixBytes]
	}
	p.mu.Lock()
	if p.pending >= pluginwire.MaxInboundPending {
		p.mu.Unlock()
		ack(sdk.Errorf(sdk.KindBufferFull, "%d inbound messages wait for the host", pluginwire.MaxInboundPending))
		return
	}
	var c *inboundChunk
	wake := false // the writer must look again: sooner due, or a batch is full
	if n := len(p.chunks); n > 0 && p.chunks[n-1].takes(len(payload)) {
		c = p.chunks[n-1]
	} else {
		c = p.newChunk(len(payload))
		p.chunks = append(p.chunks, c)
		wake = true
	}
	if c.due == 0 || due < c.due {
		c.due = due
		wake = wake || c == p.chunks[0]
	}
	if size != len(payload) {
		c.oversized = append(c.oversized, &pb.Oversized{Index: uint32(len(c.acks)), Size: uint64(size)})
	}
	if m.Metadata != nil {
		c.metadata = append(c.metadata, pluginwire.MetadataToPB(uint32(len(c.acks)), m.Metadata))
	}
	c.ids = append(c.ids, inst)
	c.routes = append(c.routes, m.RouteID)
	c.sizes = append(c.sizes, uint32(len(payload)))
	c.data = append(c.data, payload...)
	c.acks = append(c.acks, ack)
	p.pending++
	p.mu.Unlock()
	if wake { // else the writer takes this message with the others after one wake-up
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// head reports on the oldest waiting chunk: when it must be sent (monoNow), whether
// it is a full batch, and whether one waits at all.
func (p *inboundPipe) head() (due int64, full, waiting bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.chunks) == 0 {
		return 0, false, false
	}
	return p.chunks[0].due, len(p.chunks) > 1 || !p.chunks[0].takes(1), true
}

// take removes the oldest chunk and returns it with its batch, or nils when none
// waits. The batch shares the chunk's columns until the chunk is recycled.
func (p *inboundPipe) take() (*pb.InboundBatch, *inboundChunk) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.chunks) == 0 {
		return nil, nil
	}
	c := p.chunks[0]
	p.chunks[0] = nil
	p.chunks = p.chunks[1:]
	if len(p.chunks) == 0 {
		p.chunks = nil
	}
	p.pending -= len(c.acks)
	c.unsettled = len(c.acks)
	return &pb.InboundBatch{InstanceIds: c.ids, RouteIds: c.routes, Sizes: c.sizes, Data: c.data, Oversized: c.oversized, Metadata: c.metadata}, c
}
