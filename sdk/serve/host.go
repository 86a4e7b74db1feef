package serve

import (
	"context"
	"sync"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// hostQuestions carries sdk.Host.Latest questions to the host on the data stream and
// matches the answers, so a connector can ask from its build on, for as long as the
// process lives (no extra connection to set up or to expire).
type hostQuestions struct {
	s *server

	mu      sync.Mutex
	next    uint64
	asked   []*pb.LatestRequest
	waiting map[uint64]chan *pb.LatestResponse
}

// forInstance returns the Host of one instance.
func (h *hostQuestions) forInstance(inst uint64) sdk.Host { return &remoteHost{q: h, inst: inst} }

// take returns the questions not sent yet.
func (h *hostQuestions) take() []*pb.LatestRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.asked
	h.asked = nil
	return out
}

// answer hands a response to the question waiting for it.
func (h *hostQuestions) answer(r *pb.LatestResponse) {
	h.mu.Lock()
	ch := h.waiting[r.Id]
	delete(h.waiting, r.Id)
	h.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// failAll answers every open question with err (the data stream ended).
func (h *hostQuestions) failAll(err error) {
	h.mu.Lock()
	waiting := h.waiting
	h.waiting = nil
	h.asked = nil
	h.mu.Unlock()
	for id, ch := range waiting {
		ch <- &pb.LatestResponse{Id: id, Error: pluginwire.ErrorToPB(err)}
	}
}

// ask sends a question and waits for its answer or ctx.
func (h *hostQuestions) ask(ctx context.Context, inst uint64, resource string) ([]byte, error) {
	if !h.s.streaming() {
		return nil, sdk.Errorf(sdk.KindConnectionFailed, "the host's data stream is not open")
	}
	ch := make(chan *pb.LatestResponse, 1)
	h.mu.Lock()
	h.next++
	id := h.next
	if h.waiting == nil {
		h.waiting = map[uint64]chan *pb.LatestResponse{}
	}
	h.waiting[id] = ch
	h.asked = append(h.asked, &pb.LatestRequest{Id: id, InstanceId: inst, Resource: resource})
	h.mu.Unlock()
	h.s.wakeWriter()
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, pluginwire.ErrorFromPB(r.Error)
		}
		return r.Value, nil
	case <-ctx.Done():
		h.mu.Lock()
		delete(h.waiting, id)
		h.mu.Unlock()
		return nil, sdk.Wrap(sdk.KindTimeout, ctx.Err())
	}
}

// remoteHost is the Host of an instance served in a plugin process.
type remoteHost struct {
	q    *hostQuestions
	inst uint64
}

// Latest asks the host for the newest value linked to resource.
func (r *remoteHost) Latest(ctx context.Context, resource string) ([]byte, error) {
	return r.q.ask(ctx, r.inst, resource)
}
