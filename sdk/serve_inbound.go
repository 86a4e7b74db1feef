package sdk

import (
	"sync"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv1"
)

// inboundPipe queues inbound messages of every instance of the process until the
// Inbound stream sends them. Messages collect in chunks of at most one batch each, so
// whatever arrived while a batch was on its way goes out as the next batch without
// being copied again.
type inboundPipe struct {
	mu      sync.Mutex
	chunks  []*inboundChunk
	pending int
	wake    chan struct{}
	spare   sync.Pool // acknowledged chunks, reused so steady batching allocates no columns
}

// inboundChunk is one future batch, in columns; payloads are copied back to back
// into data, so the batch encodes as one bytes field and decodes with one allocation.
type inboundChunk struct {
	ids    []uint64
	routes []uint32
	sizes  []uint32
	data   []byte
	acks   []func(error)
}

func newInboundPipe() *inboundPipe {
	return &inboundPipe{wake: make(chan struct{}, 1)}
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

// deliver queues one message; ack runs when the host took or refused it. The
// payload is copied, so the caller may reuse it once deliver returns.
func (p *inboundPipe) deliver(inst uint64, m Message, ack func(error)) {
	if len(m.Payload) > pluginwire.MaxPayloadBytes {
		ack(Errorf(KindMessageTooLarge, "inbound message of %d bytes exceeds the plugin boundary's limit of %d", len(m.Payload), pluginwire.MaxPayloadBytes))
		return
	}
	p.mu.Lock()
	if p.pending >= pluginwire.MaxInboundPending {
		p.mu.Unlock()
		ack(Errorf(KindBufferFull, "%d inbound messages wait for the host", pluginwire.MaxInboundPending))
		return
	}
	var c *inboundChunk
	if n := len(p.chunks); n > 0 && p.chunks[n-1].takes(len(m.Payload)) {
		c = p.chunks[n-1]
	} else {
		c = p.newChunk(len(m.Payload))
		p.chunks = append(p.chunks, c)
	}
	c.ids = append(c.ids, inst)
	c.routes = append(c.routes, m.RouteID)
	c.sizes = append(c.sizes, uint32(len(m.Payload)))
	c.data = append(c.data, m.Payload...)
	c.acks = append(c.acks, ack)
	p.pending++
	first := p.pending == 1
	p.mu.Unlock()
	if first { // the sender takes everything after one wake-up
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
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
	if p.pending > 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return &pb.InboundBatch{InstanceIds: c.ids, RouteIds: c.routes, Sizes: c.sizes, Data: c.data}, c
}

// Inbound sends queued inbound messages to the host in batches, keeping up to
// MaxInboundInFlight batches unacknowledged, and runs each message's ack when the
// host's acknowledgement arrives. Messages in flight when the stream breaks are
// acked with KindClosed, so their connector does not commit them upstream.
func (s *server) Inbound(stream pb.Connector_InboundServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if !first.Open {
		return ToStatus(Errorf(KindInvalidConfig, "inbound stream: first message must open it"))
	}
	var (
		mu       sync.Mutex
		inflight = map[uint64]*inboundChunk{}
		sent     uint64 // batches up to this id were sent: gRPC is done with their chunks
		slots    = make(chan struct{}, pluginwire.MaxInboundInFlight)
		recvErr  = make(chan error, 1)
	)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			for _, a := range m.Acks {
				mu.Lock()
				c := inflight[a.BatchId]
				delete(inflight, a.BatchId)
				reuse := a.BatchId <= sent
				mu.Unlock()
				if c == nil {
					continue
				}
				<-slots
				settle(c.acks, a.Failures)
				if reuse {
					s.inbound.recycle(c)
				}
			}
		}
	}()
	defer func() {
		mu.Lock()
		left := inflight
		inflight = map[uint64]*inboundChunk{}
		mu.Unlock()
		closed := Errorf(KindClosed, "the host's inbound stream closed before it acknowledged")
		for _, c := range left {
			for _, ack := range c.acks {
				ack(closed)
			}
		}
	}()
	var next uint64
	for {
		select {
		case <-s.inbound.wake:
		case err := <-recvErr:
			return err
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
		select {
		case slots <- struct{}{}:
		case err := <-recvErr:
			return err
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
		b, c := s.inbound.take()
		if b == nil {
			<-slots
			continue
		}
		next++
		b.BatchId = next
		mu.Lock()
		inflight[next] = c
		mu.Unlock()
		if err := stream.Send(b); err != nil {
			return err
		}
		mu.Lock()
		sent = next
		mu.Unlock()
	}
}

// settle runs the acks of one batch: nil for the messages the host took, the
// failure's error for the others.
func settle(acks []func(error), failures []*pb.Failure) {
	var failed map[uint32]error
	if len(failures) > 0 {
		failed = make(map[uint32]error, len(failures))
		for _, f := range failures {
			failed[f.Index] = errorFromPB(f.Error)
		}
	}
	for i, ack := range acks {
		ack(failed[uint32(i)])
	}
}

// errorFromPB decodes a result's error through FromStatus; nil stays nil.
func errorFromPB(e *pb.Error) error { return FromStatus(pluginwire.StatusFromPB(e)) }
