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
}

// inboundChunk is one future batch, in columns.
type inboundChunk struct {
	ids      []uint64
	routes   []uint32
	payloads [][]byte
	acks     []func(error)
	bytes    int
}

func newInboundPipe() *inboundPipe {
	return &inboundPipe{wake: make(chan struct{}, 1)}
}

// full reports whether the chunk holds a batch's worth.
func (c *inboundChunk) full() bool {
	return len(c.acks) >= pluginwire.MaxBatchMessages || c.bytes >= pluginwire.MaxBatchBytes
}

// deliver queues one message; ack runs when the host took or refused it.
func (p *inboundPipe) deliver(inst uint64, m Message, ack func(error)) {
	p.mu.Lock()
	if p.pending >= pluginwire.MaxInboundPending {
		p.mu.Unlock()
		ack(Errorf(KindBufferFull, "%d inbound messages wait for the host", pluginwire.MaxInboundPending))
		return
	}
	var c *inboundChunk
	if n := len(p.chunks); n > 0 && !p.chunks[n-1].full() {
		c = p.chunks[n-1]
	} else {
		const n = pluginwire.MaxBatchMessages
		c = &inboundChunk{ids: make([]uint64, 0, n), routes: make([]uint32, 0, n), payloads: make([][]byte, 0, n), acks: make([]func(error), 0, n)}
		p.chunks = append(p.chunks, c)
	}
	c.ids = append(c.ids, inst)
	c.routes = append(c.routes, m.RouteID)
	c.payloads = append(c.payloads, m.Payload)
	c.acks = append(c.acks, ack)
	c.bytes += len(m.Payload)
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

// take removes the oldest chunk as a batch; it returns nil acks when none wait.
func (p *inboundPipe) take() (*pb.InboundBatch, []func(error)) {
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
	return &pb.InboundBatch{InstanceIds: c.ids, RouteIds: c.routes, Payloads: c.payloads}, c.acks
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
		inflight = map[uint64][]func(error){}
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
				acks := inflight[a.BatchId]
				delete(inflight, a.BatchId)
				mu.Unlock()
				if acks == nil {
					continue
				}
				<-slots
				settle(acks, a.Failures)
			}
		}
	}()
	defer func() {
		mu.Lock()
		left := inflight
		inflight = map[uint64][]func(error){}
		mu.Unlock()
		closed := Errorf(KindClosed, "the host's inbound stream closed before it acknowledged")
		for _, acks := range left {
			for _, ack := range acks {
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
		b, acks := s.inbound.take()
		if b == nil {
			<-slots
			continue
		}
		next++
		b.BatchId = next
		mu.Lock()
		inflight[next] = acks
		mu.Unlock()
		if err := stream.Send(b); err != nil {
			return err
		}
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
func errorFromPB(e *pb.Error) error {
	if e == nil {
		return nil
	}
	return FromStatus(statusError(e))
}
