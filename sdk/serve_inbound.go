package sdk

import (
	"sync"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv1"
)

// inboundPipe queues inbound messages of every instance of the process until the
// Inbound stream sends them; whatever collected while a batch was on its way goes
// out as the next batch.
type inboundPipe struct {
	mu       sync.Mutex
	ids      []uint64
	routes   []uint32
	payloads [][]byte
	acks     []func(error)
	wake     chan struct{}
}

func newInboundPipe() *inboundPipe {
	return &inboundPipe{wake: make(chan struct{}, 1)}
}

// deliver queues one message; ack runs when the host took or refused it.
func (p *inboundPipe) deliver(inst uint64, m Message, ack func(error)) {
	p.mu.Lock()
	if len(p.acks) >= pluginwire.MaxInboundPending {
		p.mu.Unlock()
		ack(Errorf(KindBufferFull, "%d inbound messages wait for the host", pluginwire.MaxInboundPending))
		return
	}
	if p.acks == nil {
		// Start a new batch at full size: growing four columns from empty costs more
		// than the messages themselves.
		p.ids = make([]uint64, 0, pluginwire.MaxBatchMessages)
		p.routes = make([]uint32, 0, pluginwire.MaxBatchMessages)
		p.payloads = make([][]byte, 0, pluginwire.MaxBatchMessages)
		p.acks = make([]func(error), 0, pluginwire.MaxBatchMessages)
	}
	first := len(p.acks) == 0
	p.ids = append(p.ids, inst)
	p.routes = append(p.routes, m.RouteID)
	p.payloads = append(p.payloads, m.Payload)
	p.acks = append(p.acks, ack)
	p.mu.Unlock()
	if first { // the sender drains everything after one wake-up
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// take removes up to one batch worth of messages; it returns nil acks when none wait.
func (p *inboundPipe) take() (*pb.InboundBatch, []func(error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, size := 0, 0
	for n < len(p.payloads) && n < pluginwire.MaxBatchMessages {
		size += len(p.payloads[n])
		n++
		if size >= pluginwire.MaxBatchBytes {
			break
		}
	}
	if n == 0 {
		return nil, nil
	}
	b := &pb.InboundBatch{InstanceIds: p.ids[:n:n], RouteIds: p.routes[:n:n], Payloads: p.payloads[:n:n]}
	acks := p.acks[:n:n]
	if n == len(p.acks) {
		p.ids, p.routes, p.payloads, p.acks = nil, nil, nil, nil
	} else {
		p.ids, p.routes, p.payloads, p.acks = p.ids[n:], p.routes[n:], p.payloads[n:], p.acks[n:]
	}
	if len(p.acks) > 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return b, acks
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
