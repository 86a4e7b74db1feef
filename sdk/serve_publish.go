package sdk

import (
	"io"
	"sync"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv1"
)

// destWorker publishes the batches of one destination of one instance, in order and
// one message at a time, as the Connector contract promises; destinations run in
// parallel.
type destWorker struct {
	queue chan publishJob
}

// publishJob is one batch for a destination worker and where its result goes.
type publishJob struct {
	batch *pb.PublishBatch
	link  outLink
	res   *resultSender
}

// Publish receives outbound batches until the host closes the stream, hands each to
// the worker of its destination, and streams back one result per batch.
func (s *server) Publish(stream pb.Connector_PublishServer) error {
	res := newResultSender(stream)
	defer res.stop()
	for {
		b, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		sv := s.instance(b.InstanceId)
		if sv == nil {
			res.add(failAll(b, Errorf(KindClosed, "no instance %d (closed or never built)", b.InstanceId)))
			continue
		}
		l, ok := sv.out[b.LinkId]
		if !ok {
			res.add(failAll(b, Errorf(KindInvalidConfig, "instance %q has no outbound link %d", sv.name, b.LinkId)))
			continue
		}
		if err := sv.enqueue(publishJob{batch: b, link: l, res: res}); err != nil {
			res.add(failAll(b, err))
		}
	}
}

// enqueue hands a job to its destination's worker, starting the worker on first use.
func (sv *served) enqueue(j publishJob) error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.ctx.Err() != nil {
		return Errorf(KindClosed, "instance %q is closed", sv.name)
	}
	w := sv.workers[j.link.dest]
	if w == nil {
		// The host keeps at most MaxBatchesInFlight batches in flight per process, so
		// the queue never fills and enqueue never blocks the stream.
		w = &destWorker{queue: make(chan publishJob, pluginwire.MaxBatchesInFlight)}
		sv.workers[j.link.dest] = w
		go sv.work(j.link.dest, w)
	}
	select {
	case w.queue <- j:
		return nil
	default:
		return Errorf(KindBufferFull, "destination %q: more than %d batches in flight", j.link.dest, pluginwire.MaxBatchesInFlight)
	}
}

// work publishes each queued batch message by message and reports its failures.
func (sv *served) work(dest string, w *destWorker) {
	for j := range w.queue {
		var failures []*pb.Failure
		for i, p := range j.batch.Payloads {
			if err := sv.inst.Publish(sv.ctx, dest, j.link.cfg, p); err != nil {
				failures = append(failures, &pb.Failure{Index: uint32(i), Error: errorToPB(err)})
			}
		}
		j.res.add(&pb.BatchResult{BatchId: j.batch.BatchId, Failures: failures})
	}
}

// failAll is the result of a batch none of whose messages could be published.
func failAll(b *pb.PublishBatch, err error) *pb.BatchResult {
	e := errorToPB(err)
	fs := make([]*pb.Failure, len(b.Payloads))
	for i := range fs {
		fs[i] = &pb.Failure{Index: uint32(i), Error: e}
	}
	return &pb.BatchResult{BatchId: b.BatchId, Failures: fs}
}

// resultSender gathers batch results from the workers and sends whatever has
// collected in one message, so results batch up under load.
type resultSender struct {
	stream pb.Connector_PublishServer
	mu     sync.Mutex
	ready  []*pb.BatchResult
	wake   chan struct{}
	done   chan struct{}
	exited chan struct{}
}

func newResultSender(stream pb.Connector_PublishServer) *resultSender {
	r := &resultSender{stream: stream, wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
	go r.loop()
	return r
}

func (r *resultSender) add(res *pb.BatchResult) {
	r.mu.Lock()
	r.ready = append(r.ready, res)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *resultSender) loop() {
	defer close(r.exited)
	for {
		select {
		case <-r.wake:
		case <-r.done:
			return
		}
		r.mu.Lock()
		ready := r.ready
		r.ready = nil
		r.mu.Unlock()
		if len(ready) == 0 {
			continue
		}
		if err := r.stream.Send(&pb.PublishResults{Results: ready}); err != nil {
			return // the stream is gone; the host resends what it did not get
		}
	}
}

// stop ends the sender; results added later are dropped.
func (r *resultSender) stop() {
	close(r.done)
	<-r.exited
}
